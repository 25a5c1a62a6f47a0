package sysctl

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

func runProbe(t testing.TB, dir string) map[string]finding.Finding {
	t.Helper()
	root, err := hostfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	env := &probes.Env{Root: root, Policy: policy.Default(), Role: probes.Worker, Log: zerolog.Nop()}
	out := map[string]finding.Finding{}
	for _, f := range (&Probe{}).Run(context.Background(), env) {
		if _, dup := out[f.ID]; dup {
			t.Fatalf("duplicate finding %s", f.ID)
		}
		if strings.Contains(f.ID, "forward") {
			t.Errorf("IP forwarding judged: %+v", f)
		}
		out[f.ID] = f
	}
	return out
}

func expect(t *testing.T, fs map[string]finding.Finding, status finding.Status, keys ...string) {
	t.Helper()
	for _, k := range keys {
		f, ok := fs[ID(k)]
		if !ok {
			t.Errorf("no finding for %s", k)
		} else if f.Status != status {
			t.Errorf("%s: %s (%s), want %s", k, f.Status, f.Message, status)
		}
	}
}

func counts(fs map[string]finding.Finding) map[finding.Status]int {
	c := map[finding.Status]int{}
	for _, f := range fs {
		c[f.Status]++
	}
	return c
}

func TestHardenedNode(t *testing.T) {
	fs := runProbe(t, "testdata/hardened")
	expect(t, fs, finding.Skip, "kernel.apparmor_restrict_unprivileged_userns")
	if c := counts(fs); c[finding.Pass] != len(fs)-1 {
		t.Errorf("counts %v", c)
		for _, f := range fs {
			if f.Status != finding.Pass {
				t.Logf("%s: %s", f.ID, f.Message)
			}
		}
	}
}

func TestDebianNode(t *testing.T) {
	fs := runProbe(t, "testdata/debian")
	expect(t, fs, finding.Fail, "kernel.kptr_restrict", "kernel.yama.ptrace_scope", "kernel.unprivileged_userns_clone",
		"net.ipv4.conf.all.accept_redirects", "net.ipv6.conf.default.accept_redirects", "net.ipv4.conf.all.secure_redirects",
		"net.ipv4.conf.all.send_redirects", "net.ipv4.conf.all.rp_filter",
		"vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops")
	expect(t, fs, finding.Pass, "kernel.randomize_va_space", "kernel.unprivileged_bpf_disabled", "net.ipv4.conf.default.rp_filter",
		"fs.protected_regular", "vm.panic_on_oom", "kernel.keys.root_maxkeys")
	expect(t, fs, finding.Skip, "kernel.apparmor_restrict_unprivileged_userns")
	f := fs[ID("kernel.panic")]
	if f.Severity != finding.Medium || !strings.Contains(f.Message, "protectKernelDefaults: true refuses to start until kernel.panic is 10") ||
		f.Evidence.Get("value") != "0" || f.Evidence.Get("want") != "10" || f.Remediation == "" {
		t.Errorf("kernel.panic: %+v", f)
	}
	if f := fs[ID("kernel.yama.ptrace_scope")]; f.Evidence.Get("want") != ">= 1" || f.Severity != finding.Low {
		t.Errorf("ptrace_scope: %+v", f)
	}
}

func TestRHELNode(t *testing.T) {
	fs := runProbe(t, "testdata/rhel")
	expect(t, fs, finding.Skip, "kernel.unprivileged_userns_clone", "kernel.apparmor_restrict_unprivileged_userns")
	expect(t, fs, finding.Fail, "kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes", "fs.protected_fifos")
	expect(t, fs, finding.Pass, "kernel.kptr_restrict", "net.ipv4.conf.all.rp_filter")
}

func TestBrokenNode(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/broken")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "proc/sys/kernel/dmesg_restrict")
	os.Remove(link)
	if err := os.Symlink("/../../../outside/dmesg_restrict", link); err != nil {
		t.Fatal(err)
	}
	huge, err := os.Create(filepath.Join(dir, "proc/sys/kernel/panic"))
	if err != nil {
		t.Fatal(err)
	}
	huge.Truncate(100 << 20)
	huge.Close()
	fs := runProbe(t, dir)
	for key, msg := range map[string]string{
		"kernel.kptr_restrict":      `/proc/sys/kernel/kptr_restrict: value "abc" is not an integer`,
		"fs.suid_dumpable":          "/proc/sys/fs/suid_dumpable: the value holds binary data",
		"kernel.randomize_va_space": "/proc/sys/kernel/randomize_va_space: is a directory",
		"kernel.dmesg_restrict":     "/proc/sys/kernel/dmesg_restrict: symlink to a file that does not exist",
		"kernel.panic":              "/proc/sys/kernel/panic: file exceeds the size limit",
	} {
		f := fs[ID(key)]
		if f.Status != finding.Error || !strings.Contains(f.Message, msg) {
			t.Errorf("%s: %s %q, want error with %q", key, f.Status, f.Message, msg)
		}
	}
	expect(t, fs, finding.Fail, "vm.overcommit_memory", "kernel.panic_on_oops")
}

// TestThisHost runs the profile on this machine and compares every value
// with what sysctl(8) reads.
func TestThisHost(t *testing.T) {
	fs := runProbe(t, "/")
	sysctl, err := exec.LookPath("sysctl")
	for _, f := range fs {
		if f.Status == finding.Error {
			t.Errorf("%s: %s", f.ID, f.Message)
		}
		if err != nil || f.Status == finding.Skip {
			continue
		}
		out, serr := exec.Command(sysctl, "-n", f.Evidence.Get("key")).Output()
		if serr != nil {
			t.Errorf("sysctl -n %s: %v", f.Evidence.Get("key"), serr)
			continue
		}
		if want := strings.Join(strings.Fields(string(out)), " "); f.Evidence.Get("value") != want {
			t.Errorf("%s = %q, sysctl says %q", f.Evidence.Get("key"), f.Evidence.Get("value"), want)
		}
	}
	for _, f := range fs {
		if f.Status == finding.Skip {
			if _, err := os.Stat(Path(f.Evidence.Get("key"))); err == nil {
				t.Errorf("%s skipped but exists", f.Evidence.Get("key"))
			}
		}
	}
}

func TestPolicyValidation(t *testing.T) {
	for doc, want := range map[string]string{
		"sysctl:\n  add:\n    - {key: net.ipv4.ip_forward, values: [\"0\"], severity: high, reason: x}\n":               "IP forwarding is required",
		"sysctl:\n  add:\n    - {key: net.ipv6.conf.all.forwarding, values: [\"0\"], severity: high, reason: x}\n":      "IP forwarding is required",
		"sysctl:\n  add:\n    - {key: net/ipv4/conf/eth0.100/forwarding, values: [\"0\"], severity: high, reason: x}\n": "IP forwarding is required",
		"sysctl:\n  add:\n    - {key: kernel.x, values: [\"0\"], min: 1, severity: high, reason: x}\n":                  "exactly one of values and min",
		"sysctl:\n  add:\n    - {key: kernel.x, values: [\"0\"], severity: urgent, reason: x}\n":                        "severity",
		"sysctl:\n  add:\n    - {key: kernel/../../etc/passwd, values: [\"0\"], severity: high, reason: x}\n":           "not a sysctl name",
		"sysctl:\n  disable: [kernel.nothing]\n":                                                                        "not a built-in check",
		"sysctl:\n  add:\n    - {key: \"../../etc/passwd\", values: [\"0\"], severity: high, reason: x}\n":              "not a sysctl name",
	} {
		if _, err := policy.Parse([]byte(doc), "test"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", doc, err, want)
		}
	}
	p, err := policy.Parse([]byte("sysctl:\n  disable: [net.ipv4.conf.all.rp_filter]\n  add:\n    - {key: net.ipv4.tcp_syncookies, values: [\"1\"], severity: low, reason: SYN cookies}\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	active := policy.Section[Policy](p, Name).Active()
	for _, c := range active {
		if c.Key == "net.ipv4.conf.all.rp_filter" {
			t.Error("disabled check still active")
		}
	}
	if active[len(active)-1].Key != "net.ipv4.tcp_syncookies" {
		t.Error("added check missing")
	}
}
