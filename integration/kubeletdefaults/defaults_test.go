// Package kubeletdefaults checks nodeguard's model of the kubelet against the
// kubelet's own code: its flag set, its defaulting (with and without
// --config) and its flag-over-file precedence, for every field the kubelet
// probe's checks read. It is a separate module because k8s.io/kubernetes is
// heavy and must not become a dependency of nodeguard itself.
package kubeletdefaults

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"k8s.io/kubernetes/cmd/kubelet/app/options"
	"k8s.io/kubernetes/pkg/features"
	kubeletconfig "k8s.io/kubernetes/pkg/kubelet/apis/config"
	kubeletscheme "k8s.io/kubernetes/pkg/kubelet/apis/config/scheme"
	kubeletconfigv1beta1 "k8s.io/kubernetes/pkg/kubelet/apis/config/v1beta1"
	utilcodec "k8s.io/kubernetes/pkg/kubelet/kubeletconfig/util/codec"

	"github.com/nodeguard/nodeguard/probes/kubelet"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// kubeletFlagSet is the kubelet's own command-line flag set
// (cmd/kubelet/app/server.go NewKubeletCommand), bound to kf and kc.
func kubeletFlagSet(kf *options.KubeletFlags, kc *kubeletconfig.KubeletConfiguration) *pflag.FlagSet {
	fs := pflag.NewFlagSet("kubelet", pflag.ContinueOnError)
	kf.AddFlags(fs)
	options.AddKubeletConfigFlags(fs, kc)
	options.AddGlobalFlags(fs)
	fs.BoolP("help", "h", false, "help")
	return fs
}

func TestFlagTableMatchesKubelet(t *testing.T) {
	kc, err := options.NewKubeletConfiguration()
	if err != nil {
		t.Fatal(err)
	}
	fs := kubeletFlagSet(options.NewKubeletFlags(), kc)
	ours := kubelet.KnownFlags()
	fs.VisitAll(func(f *pflag.Flag) {
		typ, ok := ours[f.Name]
		if !ok {
			t.Errorf("kubelet flag --%s is missing from nodeguard's table", f.Name)
			return
		}
		isBool := f.NoOptDefVal != ""
		if isBool != (typ == "bool") {
			t.Errorf("--%s: kubelet takes it without a value=%v, nodeguard's type is %q", f.Name, isBool, typ)
		}
		delete(ours, f.Name)
	})
	for name := range ours {
		t.Errorf("nodeguard knows --%s, which the kubelet does not have", name)
	}
}

// reference computes the kubelet's effective configuration for a command line
// with the kubelet's own code: NewKubeletConfiguration (legacy defaults) and
// flag parsing, or the config file loader and flag precedence re-parse.
func reference(t *testing.T, hostRoot string, args []string) *kubelet.Effective {
	t.Helper()
	kc, err := options.NewKubeletConfiguration()
	if err != nil {
		t.Fatal(err)
	}
	kf := options.NewKubeletFlags()
	if err := kubeletFlagSet(kf, kc).Parse(args); err != nil {
		t.Fatalf("kubelet rejects %q: %v", args, err)
	}
	if kf.KubeletConfigFile != "" {
		_, codecs, err := kubeletscheme.NewSchemeAndCodecs()
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(hostRoot, kf.KubeletConfigFile))
		if err != nil {
			t.Fatal(err)
		}
		kc, err = utilcodec.DecodeKubeletConfiguration(context.Background(), codecs, data)
		if err != nil {
			t.Fatal(err)
		}
		// Flags given on the command line win (kubeletConfigFlagPrecedence).
		if err := kubeletFlagSet(options.NewKubeletFlags(), kc).Parse(args); err != nil {
			t.Fatal(err)
		}
	}
	var v1 kubeletv1beta1.KubeletConfiguration
	if err := kubeletconfigv1beta1.Convert_config_KubeletConfiguration_To_v1beta1_KubeletConfiguration(kc, &v1, nil); err != nil {
		t.Fatal(err)
	}
	gates := utilfeature.DefaultMutableFeatureGate.DeepCopy()
	if err := gates.SetFromMap(kc.FeatureGates); err != nil {
		t.Fatal(err)
	}
	if v1.FeatureGates == nil {
		v1.FeatureGates = map[string]bool{}
	}
	v1.FeatureGates[string(features.RotateKubeletServerCertificate)] = gates.Enabled(features.RotateKubeletServerCertificate)
	// The kubelet ORs --seccomp-default with the config field (server.go).
	v1.SeccompDefault = ptr(kc.SeccompDefault || kf.SeccompDefault)
	return &kubelet.Effective{Config: v1, Flags: map[string]string{
		"hostname-override": kf.HostnameOverride,
		"kubeconfig":        kf.KubeConfig,
	}}
}

func TestDefaultsAndPrecedenceMatchKubelet(t *testing.T) {
	const typeMeta = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
	cases := []struct {
		name   string
		config string // written to /etc/kubelet.yaml when not empty
		args   []string
	}{
		{name: "flags only, no flags"},
		{name: "flags only, hardening flags", args: []string{"--anonymous-auth=false", "--authorization-mode=Webhook",
			"--read-only-port", "0", "--pod-max-pids=100", "--seccomp-default", "--event-qps=0",
			"--streaming-connection-idle-timeout=0", "--make-iptables-util-chains=false", "--hostname-override=n1",
			"--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "--tls-cipher-suites", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
			"--feature-gates=RotateKubeletServerCertificate=false", "--rotate-certificates", "--rotate-server-certificates=true",
			"--client-ca-file=/ca.crt", "--tls-cert-file=/a.crt", "--tls-private-key-file=/a.key", "--kubeconfig=/k.conf"}},
		{name: "config file with type meta only", config: typeMeta, args: []string{"--config=/etc/kubelet.yaml"}},
		{name: "config file with zero values the kubelet defaults",
			config: typeMeta + "streamingConnectionIdleTimeout: 0s\npodPidsLimit: -7\nreadOnlyPort: 0\nauthorization:\n  mode: \"\"\n",
			args:   []string{"--config=/etc/kubelet.yaml"}},
		{name: "config file overridden by flags",
			config: typeMeta + "readOnlyPort: 0\nanonymous: {}\nauthentication:\n  anonymous:\n    enabled: false\nfeatureGates:\n  RotateKubeletServerCertificate: false\neventRecordQPS: 9\nseccompDefault: true\n",
			args: []string{"--config", "/etc/kubelet.yaml", "--read-only-port=10255", "--anonymous-auth",
				"--streaming-connection-idle-timeout=0", "--feature-gates=RotateKubeletServerCertificate=true", "--event-qps=0", "--seccomp-default=false"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.config != "" {
				if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "etc/kubelet.yaml"), []byte(c.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			root, err := hostfs.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			ours, err := kubelet.Resolve(root, c.args, "/")
			if err != nil {
				t.Fatalf("nodeguard: %v", err)
			}
			want := reference(t, dir, c.args)
			for _, p := range kubelet.CheckedPaths() {
				if got, exp := ours.Value(p), want.Value(p); got != exp {
					t.Errorf("%s: nodeguard says %q (%s), the kubelet %q", p, got, ours.Source(p), exp)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
