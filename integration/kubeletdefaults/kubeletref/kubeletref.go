// Package kubeletref runs the kubelet's own code (of the k8s.io/kubernetes
// version this module is built with) to describe it: its flag set, its
// defaults, and the effective configuration of versiondata.Cases. It does not
// import nodeguard, so that it builds against any kubelet version.
package kubeletref

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"k8s.io/kubernetes/cmd/kubelet/app/options"
	"k8s.io/kubernetes/pkg/features"
	kubeletconfig "k8s.io/kubernetes/pkg/kubelet/apis/config"
	kubeletscheme "k8s.io/kubernetes/pkg/kubelet/apis/config/scheme"
	kubeletconfigv1beta1 "k8s.io/kubernetes/pkg/kubelet/apis/config/v1beta1"

	"github.com/nodeguard/nodeguard/integration/kubeletdefaults/versiondata"
)

// flagSet is the kubelet's own command-line flag set
// (cmd/kubelet/app/server.go NewKubeletCommand), bound to kf and kc.
func flagSet(kf *options.KubeletFlags, kc *kubeletconfig.KubeletConfiguration) *pflag.FlagSet {
	fs := pflag.NewFlagSet("kubelet", pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // deprecation notices
	kf.AddFlags(fs)
	options.AddKubeletConfigFlags(fs, kc)
	options.AddGlobalFlags(fs)
	fs.BoolP("help", "h", false, "help")
	return fs
}

// Dump describes the kubelet this package is built with.
func Dump() (*versiondata.Version, error) {
	v := &versiondata.Version{Version: kubernetesVersion(), Flags: map[string]versiondata.Flag{}}
	kc, err := options.NewKubeletConfiguration()
	if err != nil {
		return nil, err
	}
	flagSet(options.NewKubeletFlags(), kc).VisitAll(func(f *pflag.Flag) {
		v.Flags[f.Name] = versiondata.Flag{Bool: f.NoOptDefVal != "", Shorthand: f.Shorthand, Deprecated: f.Deprecated != ""}
	})
	// Without --config: NewKubeletConfiguration's legacy defaults.
	var legacy kubeletv1beta1.KubeletConfiguration
	if err := kubeletconfigv1beta1.Convert_config_KubeletConfiguration_To_v1beta1_KubeletConfiguration(kc, &legacy, nil); err != nil {
		return nil, err
	}
	v.Legacy = defaults(&legacy)
	// With --config: the versioned defaulting of an empty file.
	var file kubeletv1beta1.KubeletConfiguration
	kubeletconfigv1beta1.SetDefaults_KubeletConfiguration(&file)
	v.Config = defaults(&file)
	v.RotateServerCertGate = utilfeature.DefaultFeatureGate.Enabled(features.RotateKubeletServerCertificate)
	for _, c := range versiondata.Cases {
		r, err := reference(c)
		if err != nil {
			return nil, err
		}
		v.Cases = append(v.Cases, *r)
	}
	return v, nil
}

// reference computes the kubelet's effective configuration for a case with
// the kubelet's own code: NewKubeletConfiguration (legacy defaults) and flag
// parsing, or the config file loader and the flag precedence re-parse.
func reference(c versiondata.Case) (*versiondata.Result, error) {
	dir, err := os.MkdirTemp("", "kubeletref")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if c.Config != "" {
		if err := os.WriteFile(filepath.Join(dir, "kubelet.yaml"), []byte(c.Config), 0o600); err != nil {
			return nil, err
		}
	}
	kc, err := options.NewKubeletConfiguration()
	if err != nil {
		return nil, err
	}
	kf := options.NewKubeletFlags()
	if err := flagSet(kf, kc).Parse(c.Args); err != nil {
		return nil, err
	}
	if kf.KubeletConfigFile != "" {
		_, codecs, err := kubeletscheme.NewSchemeAndCodecs()
		if err != nil {
			return nil, err
		}
		// Every case's file is /etc/kubelet.yaml under the host root.
		data, err := os.ReadFile(filepath.Join(dir, filepath.Base(kf.KubeletConfigFile)))
		if err != nil {
			return nil, err
		}
		if kc, err = decode(codecs, data); err != nil {
			return nil, err
		}
		// Flags given on the command line win (kubeletConfigFlagPrecedence).
		if err := flagSet(options.NewKubeletFlags(), kc).Parse(c.Args); err != nil {
			return nil, err
		}
	}
	var v1 kubeletv1beta1.KubeletConfiguration
	if err := kubeletconfigv1beta1.Convert_config_KubeletConfiguration_To_v1beta1_KubeletConfiguration(kc, &v1, nil); err != nil {
		return nil, err
	}
	gates := utilfeature.DefaultMutableFeatureGate.DeepCopy()
	if err := gates.SetFromMap(kc.FeatureGates); err != nil {
		return nil, err
	}
	if v1.FeatureGates == nil {
		v1.FeatureGates = map[string]bool{}
	}
	v1.FeatureGates[string(features.RotateKubeletServerCertificate)] = gates.Enabled(features.RotateKubeletServerCertificate)
	// The kubelet ORs --seccomp-default with the config field (server.go).
	on := kc.SeccompDefault || kf.SeccompDefault
	v1.SeccompDefault = &on
	data, err := json.Marshal(&v1)
	if err != nil {
		return nil, err
	}
	return &versiondata.Result{Name: c.Name, Config: data, Flags: map[string]string{
		"hostname-override": kf.HostnameOverride,
		"kubeconfig":        kf.KubeConfig,
	}}, nil
}

// decode is the lenient half of the kubelet's config file decoding
// (DecodeKubeletConfiguration, whose signature varies between versions): the
// kubelet ignores unknown fields, and defaults what is left unset.
func decode(codecs *serializer.CodecFactory, data []byte) (*kubeletconfig.KubeletConfiguration, error) {
	obj, _, err := codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		return nil, err
	}
	kc, ok := obj.(*kubeletconfig.KubeletConfiguration)
	if !ok {
		return nil, fmt.Errorf("config file decodes to %T", obj)
	}
	return kc, nil
}

func defaults(kc *kubeletv1beta1.KubeletConfiguration) versiondata.Defaults {
	return versiondata.Defaults{
		AnonymousAuth:                  deref(kc.Authentication.Anonymous.Enabled),
		WebhookAuthn:                   deref(kc.Authentication.Webhook.Enabled),
		AuthorizationMode:              string(kc.Authorization.Mode),
		ReadOnlyPort:                   kc.ReadOnlyPort,
		EventRecordQPS:                 deref(kc.EventRecordQPS),
		StreamingConnectionIdleTimeout: kc.StreamingConnectionIdleTimeout.Duration,
		PodPidsLimit:                   deref(kc.PodPidsLimit),
		MakeIPTablesUtilChains:         deref(kc.MakeIPTablesUtilChains),
		SeccompDefault:                 deref(kc.SeccompDefault),
		Address:                        kc.Address,
		Port:                           kc.Port,
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// kubernetesVersion is the k8s.io/kubernetes module this binary is built with.
func kubernetesVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "k8s.io/kubernetes" {
				return d.Version
			}
		}
	}
	return "unknown"
}
