package kmod

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/probetest"
)

func runProbe(t testing.TB, dir string) []finding.Finding {
	t.Helper()
	return probetest.Run(t, &Probe{}, dir)
}

// byModule indexes denied-module findings by module, others by id.
func byModule(fs []finding.Finding) map[string]finding.Finding {
	m := map[string]finding.Finding{}
	for _, f := range fs {
		if f.ID == IDDenied {
			m[f.Evidence.Get("module")] = f
		} else if _, dup := m[f.ID]; !dup {
			m[f.ID] = f
		}
	}
	return m
}

func expectState(t *testing.T, fs []finding.Finding, want map[string]string) {
	t.Helper()
	got := byModule(fs)
	for mod, state := range want {
		f, ok := got[mod]
		if !ok {
			t.Errorf("no finding for %s", mod)
			continue
		}
		if f.Evidence.Get("state") != state {
			t.Errorf("%s: state %q (%s: %s), want %q", mod, f.Evidence.Get("state"), f.Status, f.Message, state)
		}
	}
}

func TestParseModprobe(t *testing.T) {
	src := "# comment\n  # indented: bad\nblacklist usb-storage\ninstall cramfs   /bin/false  --x\ninstall sctp \\\n /bin/true\ninstall\nalias net-pf-10 ipv6\ninstall free[v-x]xfs /bin/true\nweird\n"
	ds, bad := ParseModprobe("/etc/modprobe.d/x.conf", []byte(src))
	want := []Directive{
		{"blacklist", "usb_storage", "", "/etc/modprobe.d/x.conf", 3},
		{"install", "cramfs", "/bin/false  --x", "/etc/modprobe.d/x.conf", 4},
		{"install", "sctp", "/bin/true", "/etc/modprobe.d/x.conf", 5},
		{"install", "free[v-x]xfs", "/bin/true", "/etc/modprobe.d/x.conf", 9},
	}
	if len(ds) != len(want) {
		t.Fatalf("directives = %+v", ds)
	}
	for i := range want {
		if ds[i] != want[i] {
			t.Errorf("directive %d = %+v, want %+v", i, ds[i], want[i])
		}
	}
	if len(bad) != 3 || bad[0].Line != 2 || bad[1].Line != 7 || bad[2].Line != 10 {
		t.Errorf("bad lines = %v", bad)
	}
}

func TestHardenedNode(t *testing.T) {
	fs := runProbe(t, "testdata/hardened")
	for _, f := range fs {
		if f.Status != finding.Pass {
			t.Errorf("%s %s: %s", f.ID, f.Status, f.Message)
		}
		for _, k8s := range []string{"overlay", "br_netfilter", "ip_vs", "vxlan", "nf_conntrack"} {
			if f.Evidence.Get("module") == k8s {
				t.Errorf("Kubernetes module %s judged: %+v", k8s, f)
			}
		}
	}
	if n := len(fs); n != 13 {
		t.Errorf("%d findings, want 13 (module loading + 12 denied modules)", n)
	}
}

func TestDebianNode(t *testing.T) {
	fs := runProbe(t, "testdata/debian")
	expectState(t, fs, map[string]string{
		"sctp": "loaded", "squashfs": "builtin", "cramfs": "loadable", "usb-storage": "loadable", "tipc": "loadable",
	})
	g := byModule(fs)
	if f := g["sctp"]; f.Status != finding.Fail || f.Severity != finding.High {
		t.Errorf("loaded sctp: %+v", f)
	}
	if f := g[IDModuleLoading]; f.Status != finding.Pass || f.Evidence.Get("moduleLoading") != "enabled" || f.Evidence.Get("loaded") != "13" {
		t.Errorf("module loading: %+v", f)
	}
}

func TestRHELNode(t *testing.T) {
	fs := runProbe(t, "testdata/rhel")
	expectState(t, fs, map[string]string{
		"dccp": "blacklisted", "sctp": "blacklisted", "rds": "blacklisted",
		"tipc": "blacklisted", "hfs": "blacklisted", // modprobe.blacklist= on the kernel command line
		"cramfs":      "loadable", // /etc/modprobe.d/cis.conf hides the vendor file that disabled it
		"jffs2":       "disabled",
		"freevxfs":    "disabled", // install pattern with a character class
		"udf":         "loadable", // the first install line wins, and it loads udf
		"usb-storage": "disabled", // continued line, "-" read as "_"
		"squashfs":    "loadable", // files not ending in .conf are not read
	})
	if f := byModule(fs)["tipc"]; f.Evidence.Get("blacklist") != "/proc/cmdline modprobe.blacklist" {
		t.Errorf("tipc evidence: %v", f.Evidence)
	}
	if f := byModule(fs)["udf"]; !strings.Contains(f.Message, "/etc/modprobe.d/00-udf.conf line 1") {
		t.Errorf("udf: %s", f.Message)
	}
}

func TestNoModuleSupport(t *testing.T) {
	for _, dir := range []string{"testdata/nomodules", "/"} {
		if dir == "/" {
			if _, err := os.Stat("/proc/modules"); err == nil {
				continue // this kernel supports modules; the fixture covers the case
			}
		}
		fs := runProbe(t, dir)
		for _, f := range fs {
			if f.Status != finding.Pass {
				t.Errorf("%s: %s %s: %s", dir, f.ID, f.Status, f.Message)
			}
		}
		if f := byModule(fs)[IDModuleLoading]; f.Evidence.Get("moduleLoading") != "unsupported" {
			t.Errorf("%s: %+v", dir, f)
		}
	}
}

func TestNoProc(t *testing.T) {
	fs := runProbe(t, t.TempDir())
	if len(fs) != 1 || fs[0].Status != finding.Error || !strings.Contains(fs[0].Message, "/proc is not available") {
		t.Fatalf("%+v", fs)
	}
}

func TestBrokenNode(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/broken")); err != nil {
		t.Fatal(err)
	}
	md := filepath.Join(dir, "etc/modprobe.d")
	for name, target := range map[string]string{"escape.conf": "/../../../outside/secret.conf", "loop.conf": "loop.conf"} {
		os.Remove(filepath.Join(md, name))
		if err := os.Symlink(target, filepath.Join(md, name)); err != nil {
			t.Fatal(err)
		}
	}
	huge, err := os.Create(filepath.Join(md, "huge.conf"))
	if err != nil {
		t.Fatal(err)
	}
	huge.Truncate(100 << 20)
	huge.Close()

	fs := runProbe(t, dir)
	var msgs []string
	for _, f := range fs {
		if f.ID == IDConfig {
			msgs = append(msgs, f.Message)
		}
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		"/etc/modprobe.d/bad.conf line 1: kmod ignores this line",
		"/etc/modprobe.d/bad.conf line 2: kmod ignores this line",
		"/etc/modprobe.d/bad.conf line 3: include is deprecated",
		"/etc/modprobe.d/bad.conf line 4: kmod ignores this line",
		"/etc/modprobe.d/bad.conf line 5: kmod ignores this line",
		"/etc/modprobe.d/binary.conf line 1: binary data",
		"/etc/modprobe.d/escape.conf: no such file or directory",
		"/etc/modprobe.d/huge.conf: file exceeds the size limit",
		"/etc/modprobe.d/loop.conf: too many levels of symbolic links",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing error %q in:\n%s", want, all)
		}
	}
	if strings.Contains(all, "dir.conf") {
		t.Errorf("a directory named *.conf must be skipped: %s", all)
	}
	expectState(t, fs, map[string]string{"cramfs": "loaded", "hfs": "modules-disabled"})
}

// TestAgreesWithModprobe compares the effective blacklist and install
// command of every denied module with what the real "modprobe -c" (kmod)
// prints for the same configuration directories, bind-mounted in a private
// mount namespace.
func TestAgreesWithModprobe(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a private mount namespace")
	}
	modprobe, err := exec.LookPath("modprobe")
	if err != nil {
		t.Skip("modprobe not installed (Debian package kmod)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare not installed (util-linux)")
	}
	if fi, err := os.Lstat("/lib"); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Skip("needs a merged-/usr host, where /lib/modprobe.d is /usr/lib/modprobe.d")
	}
	for _, fx := range []string{"hardened", "debian", "rhel"} {
		t.Run(fx, func(t *testing.T) {
			abs, _ := filepath.Abs(filepath.Join("testdata", fx))
			script := "set -e\n"
			for _, d := range []string{"/etc/modprobe.d", "/run/modprobe.d", "/usr/local/lib/modprobe.d", "/usr/lib/modprobe.d"} {
				script += "mkdir -p " + d + " 2>/dev/null || mount -t tmpfs none " + path.Dir(d) + " && mkdir -p " + d + "\n"
				script += "mount -t tmpfs none " + d + "\n"
				if _, err := os.Stat(abs + d); err == nil {
					script += "mount --bind " + abs + d + " " + d + "\n"
				}
			}
			script += modprobe + " -c\n"
			out, err := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			blacklisted := map[string]bool{}
			var installs [][2]string
			for _, line := range strings.Split(string(out), "\n") {
				f := strings.Fields(line)
				if len(f) >= 2 && f[0] == "blacklist" {
					blacklisted[f[1]] = true
				}
				if len(f) >= 3 && f[0] == "install" {
					cmd := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(line, "install")), f[1]))
					installs = append(installs, [2]string{f[1], cmd})
				}
			}
			root, err := hostfs.Open(abs)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			cfg := ReadConfig(root)
			for _, d := range policy.Section[Policy](policy.Default(), Name).Denylist {
				m := underscores(d.Module)
				dis := cfg.For(m)
				if got := dis.Blacklist != nil; got != blacklisted[m] {
					t.Errorf("%s: blacklisted %v, modprobe -c says %v", m, got, blacklisted[m])
				}
				want := ""
				for _, in := range installs {
					if ok, _ := path.Match(in[0], m); ok {
						want = in[1]
						break
					}
				}
				got := ""
				if dis.Install != nil {
					got = dis.Install.Arg
				}
				if got != want {
					t.Errorf("%s: install %q, modprobe -c says %q", m, got, want)
				}
			}
		})
	}
}

func TestPolicyRefusesKubernetesModules(t *testing.T) {
	for _, m := range []string{"overlay", "br_netfilter", "br-netfilter", "ip_vs_rr", "nf_conntrack", "vxlan"} {
		_, err := policy.Parse([]byte("kmod:\n  denylist:\n    - {module: "+m+", reason: test}\n"), "test")
		if err == nil || !strings.Contains(err.Error(), "needed by a Kubernetes node") {
			t.Errorf("%s: %v", m, err)
		}
	}
}

func FuzzParseModprobe(f *testing.F) {
	f.Add([]byte("blacklist usb-storage\ninstall cramfs /bin/false\ninstall sctp \\\n /bin/true\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, bad := ParseModprobe("/etc/modprobe.d/f.conf", data)
		lines := strings.Count(string(data), "\n") + 1
		for _, d := range ds {
			if d.Line < 1 || d.Line > lines || d.Module == "" || strings.Contains(d.Module, "-") && !strings.Contains(d.Module, "[") {
				t.Fatalf("directive %+v", d)
			}
			if d.Cmd == "install" && d.Arg == "" {
				t.Fatalf("install without a command: %+v", d)
			}
		}
		for _, b := range bad {
			if b.Line < 1 || b.Line > lines {
				t.Fatalf("bad line %v", b)
			}
		}
		c := &Config{Directives: ds}
		c.For("cramfs").Disabled()
	})
}
