package kubelet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/probetest"
)

// copyFixture copies testdata/<name> to a temporary host root, then applies modes.
func copyFixture(t testing.TB, name string, modes map[string]os.FileMode) string {
	t.Helper()
	dst := probetest.CopyTree(t, filepath.Join("testdata", name))
	for p, m := range modes {
		if err := os.Chmod(filepath.Join(dst, p), m); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func openRoot(t testing.TB, dir string) *hostfs.Root {
	t.Helper()
	r, err := hostfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func runProbe(t testing.TB, dir string) []finding.Finding {
	t.Helper()
	env := &probes.Env{Root: openRoot(t, dir), Policy: policy.Default(), Role: probes.Worker}
	return (&Probe{}).Run(context.Background(), env)
}

// byID keeps the first finding of each id (per-file checks repeat ids).
func byID(fs []finding.Finding) map[string]finding.Finding {
	m := map[string]finding.Finding{}
	for _, f := range fs {
		if _, ok := m[f.ID]; !ok {
			m[f.ID] = f
		}
	}
	return m
}

var hardenedModes = map[string]os.FileMode{
	"etc/systemd/system/kubelet.service": 0o600, "var/lib/kubelet/config.yaml": 0o600,
	"etc/kubernetes/kubelet.conf": 0o600, "etc/kubernetes/pki/ca.crt": 0o600, "etc/kubernetes/proxy.conf": 0o600,
}

func TestProbeFixtures(t *testing.T) {
	const P, F, S = finding.Pass, finding.Fail, finding.Skip
	cases := []struct {
		fixture string
		modes   map[string]os.FileMode
		want    map[string]finding.Status
		// source of a value, to prove the evidence says where it came from
		sourceOf, source string
	}{
		{fixture: "kubeadm-worker", want: map[string]finding.Status{
			// The modes kubeadm writes (.modes): 0600 kubelet.conf, 0644 CA (4.1.7
			// allows 644), 0644 config.yaml in 0700 /var/lib/kubelet; the
			// packages' 0644 unit files fail 4.1.1's 600.
			"kubelet.service-file-permissions": F, "kubelet.service-file-ownership": P,
			"kubelet.kubeconfig-permissions": P, "kubelet.client-ca-permissions": P, "kubelet.config-file-permissions": P,
			"kubelet.anonymous-auth": P, "kubelet.authorization-mode": P, "kubelet.client-ca": P,
			"kubelet.read-only-port": P, "kubelet.streaming-idle-timeout": P, "kubelet.iptables-util-chains": P,
			"kubelet.hostname-override": P, "kubelet.event-qps": P, "kubelet.tls-cert": F,
			"kubelet.rotate-certificates": P, "kubelet.rotate-server-certificates": F, "kubelet.tls-cipher-suites": F,
			"kubelet.pod-pids-limit": F, "kubelet.seccomp-default": F,
			"kubelet.proxy-metrics-bind": P, "kubelet.proxy-kubeconfig-permissions": P,
		}, sourceOf: "readOnlyPort", source: "kubelet default"},
		{fixture: "flags-only", want: map[string]finding.Status{
			"kubelet.service-file-permissions": S, "kubelet.config-file-permissions": S,
			"kubelet.anonymous-auth": F, "kubelet.authorization-mode": F, "kubelet.client-ca": F, "kubelet.read-only-port": F,
			"kubelet.hostname-override": F, "kubelet.pod-pids-limit": P, "kubelet.tls-cipher-suites": F,
			"kubelet.rotate-server-certificates": F, "kubelet.proxy-metrics-bind": S,
		}, sourceOf: "authentication.anonymous.enabled", source: "kubelet default without --config"},
		{fixture: "not-running", want: map[string]finding.Status{
			"kubelet.read-only-port": F, "kubelet.streaming-idle-timeout": F, "kubelet.event-qps": F,
			"kubelet.anonymous-auth": P, "kubelet.service-file-permissions": F,
		}, sourceOf: "readOnlyPort", source: "flag --read-only-port"},
		{fixture: "dropins", want: map[string]finding.Status{
			"kubelet.read-only-port": P, "kubelet.seccomp-default": P, "kubelet.pod-pids-limit": P,
			"kubelet.rotate-certificates": F, "kubelet.rotate-server-certificates": P, "kubelet.tls-cert": P,
			"kubelet.event-qps": F,
		}, sourceOf: "podPidsLimit", source: "drop-in /etc/kubernetes/kubelet.conf.d/10-hardening.conf"},
		{fixture: "hardened", modes: hardenedModes, want: map[string]finding.Status{
			"kubelet.service-file-permissions": P, "kubelet.service-file-ownership": P,
			"kubelet.kubeconfig-permissions": P, "kubelet.kubeconfig-ownership": P,
			"kubelet.client-ca-permissions": P, "kubelet.client-ca-ownership": P,
			"kubelet.config-file-permissions": P, "kubelet.config-file-ownership": P,
			"kubelet.proxy-kubeconfig-permissions": P, "kubelet.proxy-kubeconfig-ownership": P,
			"kubelet.anonymous-auth": P, "kubelet.authorization-mode": P, "kubelet.client-ca": P,
			"kubelet.read-only-port": P, "kubelet.streaming-idle-timeout": P, "kubelet.iptables-util-chains": P,
			"kubelet.hostname-override": P, "kubelet.event-qps": P, "kubelet.tls-cert": P,
			"kubelet.rotate-certificates": P, "kubelet.rotate-server-certificates": P, "kubelet.tls-cipher-suites": P,
			"kubelet.pod-pids-limit": P, "kubelet.seccomp-default": P, "kubelet.proxy-metrics-bind": P,
		}, sourceOf: "seccompDefault", source: "file /var/lib/kubelet/config.yaml"},
	}
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			if os.Geteuid() != 0 && c.modes != nil {
				t.Skip("ownership checks expect root-owned files: run as root")
			}
			fs := runProbe(t, copyFixture(t, c.fixture, c.modes))
			got := byID(fs)
			for id, want := range c.want {
				f, ok := got[id]
				if !ok {
					t.Errorf("%s: no finding", id)
					continue
				}
				if f.Status != want {
					t.Errorf("%s: status %s, want %s (%s)", id, f.Status, want, f.Message)
				}
			}
			for _, f := range fs {
				if f.Status == finding.Error {
					t.Errorf("unexpected error finding %s: %s", f.ID, f.Message)
				}
				if len(f.References) == 0 || !strings.HasPrefix(f.References[0], "CIS Kubernetes v1.12 4.") {
					t.Errorf("%s: references %v lack a CIS id", f.ID, f.References)
				}
			}
			var found bool
			for _, f := range fs {
				if src, ok := f.Evidence.Lookup(c.sourceOf + ".source"); ok {
					found = true
					if src != c.source {
						t.Errorf("%s: source %q, want %q", c.sourceOf, src, c.source)
					}
				}
			}
			if !found {
				t.Errorf("no finding carries the source of %s", c.sourceOf)
			}
		})
	}
}

// errorFinding runs the probe and returns its single kubelet.config error.
func errorFinding(t *testing.T, dir string) finding.Finding {
	t.Helper()
	fs := runProbe(t, dir)
	var errs []finding.Finding
	for _, f := range fs {
		if f.Status == finding.Error {
			errs = append(errs, f)
		}
		if f.Status == finding.Pass && strings.HasPrefix(f.References[0], "CIS Kubernetes v1.12 4.2") {
			t.Errorf("%s passed although the configuration could not be read", f.ID)
		}
	}
	if len(errs) != 1 {
		t.Fatalf("want one error finding, got %d: %+v", len(errs), errs)
	}
	return errs[0]
}

func writeHost(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, s := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBadInput(t *testing.T) {
	proc := func(args ...string) map[string]string {
		return map[string]string{"proc/42/comm": "kubelet\n", "proc/42/cmdline": strings.Join(append([]string{"/usr/bin/kubelet"}, args...), "\x00") + "\x00"}
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name string
		dir  func(t *testing.T) string
		want []string // substrings of the error message
	}{
		{"malformed YAML", func(t *testing.T) string { return copyFixture(t, "malformed", nil) },
			[]string{"/var/lib/kubelet/config.yaml", "yaml"}},
		{"symlink out of the root", func(t *testing.T) string { return copyFixture(t, "symlink-out", nil) },
			[]string{"/var/lib/kubelet/config.yaml", "no such file"}},
		{"wrong kind", func(t *testing.T) string {
			return writeHost(t, with(proc("--config=/k.yaml"), "k.yaml", "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"))
		}, []string{"/k.yaml", "KubeProxyConfiguration"}},
		{"wrong version", func(t *testing.T) string {
			return writeHost(t, with(proc("--config=/k.yaml"), "k.yaml", "apiVersion: kubelet.config.k8s.io/v1\nkind: KubeletConfiguration\n"))
		}, []string{"/k.yaml", "kubelet.config.k8s.io/v1"}},
		{"missing config", func(t *testing.T) string { return writeHost(t, proc("--config=/nope.yaml")) },
			[]string{"/nope.yaml", "no such file"}},
		{"empty config", func(t *testing.T) string { return writeHost(t, with(proc("--config=/k.yaml"), "k.yaml", "\n")) },
			[]string{"/k.yaml", "empty"}},
		{"binary config", func(t *testing.T) string {
			return writeHost(t, with(proc("--config=/k.yaml"), "k.yaml", "\x00\x01\x02\xff"))
		}, []string{"/k.yaml"}},
		{"bad flag value", func(t *testing.T) string { return writeHost(t, proc("--read-only-port=ten")) },
			[]string{"--read-only-port", "ten"}},
		{"drop-in of the wrong kind", func(t *testing.T) string {
			return writeHost(t, with(proc("--config-dir=/d"), "d/10.conf", "apiVersion: v1\nkind: ConfigMap\n"))
		}, []string{"/d/10.conf", "ConfigMap"}},
		{"odd quoting in ExecStart", func(t *testing.T) string {
			return writeHost(t, map[string]string{"etc/systemd/system/kubelet.service": "[Service]\nExecStart=/usr/bin/kubelet \"--config=/k.yaml\n"})
		}, []string{"/etc/systemd/system/kubelet.service", "unterminated"}},
		{"two ExecStart lines", func(t *testing.T) string {
			return writeHost(t, map[string]string{"etc/systemd/system/kubelet.service": "[Service]\nExecStart=/usr/bin/kubelet\n",
				"etc/systemd/system/kubelet.service.d/x.conf": "[Service]\nExecStart=/usr/bin/kubelet --v=2\n"})
		}, []string{"x.conf", "ExecStart"}},
		{"unreadable EnvironmentFile", func(t *testing.T) string {
			return writeHost(t, map[string]string{"etc/systemd/system/kubelet.service": "[Service]\nEnvironmentFile=/etc/default/kubelet\nExecStart=/usr/bin/kubelet $X\n"})
		}, []string{"/etc/default/kubelet", "no such file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := errorFinding(t, c.dir(t))
			for _, w := range c.want {
				if !strings.Contains(f.Message, w) {
					t.Errorf("message %q lacks %q", f.Message, w)
				}
			}
		})
	}
}

func TestSymlinkOutOfRootNotRead(t *testing.T) {
	// The fixture's config symlink points at ../../../../outside-config.yaml,
	// which exists next to the fixture: it must resolve inside the root.
	if _, err := os.Stat(filepath.Join("testdata", "outside-config.yaml")); err != nil {
		t.Fatal(err)
	}
	_, _, err := Find(openRoot(t, filepath.Join("testdata", "symlink-out")), "", "")
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("want a not-found error, got %v", err)
	}
}

func TestUnknownFieldsReported(t *testing.T) {
	dir := writeHost(t, map[string]string{"proc/42/comm": "kubelet\n", "proc/42/cmdline": "kubelet\x00--config=/k.yaml\x00",
		"k.yaml": "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nreadonlyPort: 0\n"})
	got := byID(runProbe(t, dir))
	f := got[IDUnknownFields]
	if f.Status != finding.Fail || !strings.Contains(f.Message, "readonlyPort") || !strings.Contains(f.Message, "/k.yaml") {
		t.Fatalf("unknown field finding: %+v", f)
	}
	if got["kubelet.read-only-port"].Status != finding.Pass {
		t.Errorf("read-only port: the typo changes nothing and the default with --config is 0: %+v", got["kubelet.read-only-port"])
	}
}

func TestNoKubelet(t *testing.T) {
	fs := runProbe(t, t.TempDir())
	if len(fs) != 1 || fs[0].ID != IDDiscovery || fs[0].Status != finding.Skip {
		t.Fatalf("want one skip finding, got %+v", fs)
	}
}

func TestPolicyRejectsUnknownCipher(t *testing.T) {
	if _, err := policy.Parse([]byte("kubelet:\n  tlsCipherSuites: [TLS_NOT_A_SUITE]\n"), "test"); err == nil {
		t.Fatal("want an error for an unknown cipher suite")
	}
}

// The checks stricter than CIS follow their policy switches: off, stock
// kubeadm (serverTLSBootstrap unset) passes 4.2.11 on the feature gate, and
// an unset rotateCertificates passes 4.2.10 while an explicit false fails.
func TestStricterThanCISSwitches(t *testing.T) {
	pol := policy.Default()
	kp := policy.Section[Policy](pol, Name)
	kp.RequireRotateCertificates, kp.RequireServerTLSBootstrap = false, false
	proc := func(args ...string) map[string]string {
		return map[string]string{"proc/42/comm": "kubelet\n", "proc/42/cmdline": strings.Join(append([]string{"/usr/bin/kubelet"}, args...), "\x00") + "\x00"}
	}
	run := func(dir string) map[string]finding.Finding {
		env := &probes.Env{Root: openRoot(t, dir), Policy: pol, Role: probes.Worker}
		return byID((&Probe{}).Run(context.Background(), env))
	}
	if f := run(copyFixture(t, "kubeadm-worker", nil))["kubelet.rotate-server-certificates"]; f.Status != finding.Pass {
		t.Errorf("4.2.11 with the gate on: %s (%s)", f.Status, f.Message)
	}
	if f := run(writeHost(t, proc()))["kubelet.rotate-certificates"]; f.Status != finding.Pass {
		t.Errorf("4.2.10 unset: %s (%s)", f.Status, f.Message)
	}
	if f := run(writeHost(t, proc("--rotate-certificates=false")))["kubelet.rotate-certificates"]; f.Status != finding.Fail {
		t.Errorf("4.2.10 explicit false: %s (%s)", f.Status, f.Message)
	}
}
