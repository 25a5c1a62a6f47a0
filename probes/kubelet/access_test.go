package kubelet

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

func TestLimitByDir(t *testing.T) {
	const root, user = 0, 1000
	cases := []struct {
		name       string
		dir        fs.FileMode
		du, dg     uint32
		acl        bool
		want       fs.FileMode
		fileOwners [2]uint32 // uid, gid
	}{
		{name: "0700", dir: 0o700, want: 0o600},
		{name: "0710 same group", dir: 0o710, want: 0o640},
		{name: "0710 other group", dir: 0o710, dg: 5, want: 0o644},
		{name: "0710 with an ACL", dir: 0o710, acl: true, want: 0o644},
		{name: "0711", dir: 0o711, want: 0o644},
		{name: "0755", dir: 0o755, want: 0o644},
		{name: "0750", dir: 0o750, want: 0o640},
		{name: "0701", dir: 0o701, want: 0o644},
		{name: "0700 of another user", dir: 0o700, du: user, want: 0o644},
		{name: "0700 of the file's owner", dir: 0o700, du: user, dg: user, fileOwners: [2]uint32{user, user}, want: 0o600},
		{name: "0000 of root", dir: 0, du: root, want: 0o600},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := limitByDir(0o644, c.fileOwners[0], c.fileOwners[1], c.dir, c.du, c.dg, c.acl)
			if got != c.want {
				t.Errorf("0644 in a %04o dir: %04o, want %04o", c.dir, got, c.want)
			}
		})
	}
}

// hostTree makes a host root (0755, unlike t.TempDir's 0700) with dirs at
// the given modes and a 0644 file at each of files.
func hostTree(t *testing.T, dirs map[string]fs.FileMode, files ...string) string {
	t.Helper()
	top := filepath.Join(t.TempDir(), "host")
	if err := os.Mkdir(top, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		p := filepath.Join(top, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for d, m := range dirs {
		p := filepath.Join(top, d)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { // let TempDir's cleanup remove 0000 dirs
		for d := range dirs {
			os.Chmod(filepath.Join(top, d), 0o755)
		}
	})
	return top
}

func symlink(t *testing.T, top, target, link string) {
	t.Helper()
	p := filepath.Join(top, link)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

func TestEffectiveMode(t *testing.T) {
	const config = "/var/lib/kubelet/config.yaml"
	// kubeletDirs is a tree with config.yaml under directories at these modes.
	kubeletDirs := func(dirs map[string]fs.FileMode) func(t *testing.T) string {
		return func(t *testing.T) string { return hostTree(t, dirs, config[1:]) }
	}
	// pkiLinkedTo is a tree whose /etc/kubernetes/pki links to /srv/pki, in a
	// 0700 /srv.
	pkiLinkedTo := func(target string) func(t *testing.T) string {
		return func(t *testing.T) string {
			top := hostTree(t, map[string]fs.FileMode{"srv": 0o700}, "srv/pki/ca.crt")
			symlink(t, top, target, "etc/kubernetes/pki")
			return top
		}
	}
	cases := []struct {
		name  string
		setup func(t *testing.T) string
		file  string
		want  fs.FileMode
		by    string
	}{
		{"0700 parent", kubeletDirs(map[string]fs.FileMode{"var/lib/kubelet": 0o700}), config, 0o600, "/var/lib/kubelet is 0700"},
		{"0710 parent", kubeletDirs(map[string]fs.FileMode{"var/lib/kubelet": 0o710}), config, 0o640, "/var/lib/kubelet is 0710"},
		{"0711 parent", kubeletDirs(map[string]fs.FileMode{"var/lib/kubelet": 0o711}), config, 0o644, ""},
		{"0755 parent", kubeletDirs(map[string]fs.FileMode{"var/lib/kubelet": 0o755}), config, 0o644, ""},
		{"0700 grandparent", kubeletDirs(map[string]fs.FileMode{"var/lib": 0o700}), config, 0o600, "/var/lib is 0700"},
		{"0710 then 0700", kubeletDirs(map[string]fs.FileMode{"var/lib": 0o710, "var/lib/kubelet": 0o700}), config, 0o600, "/var/lib is 0710, /var/lib/kubelet is 0700"},
		{"0700 host root", func(t *testing.T) string {
			top := hostTree(t, nil, "etc/kubernetes/pki/ca.crt")
			os.Chmod(top, 0o700)
			return top
		}, "/etc/kubernetes/pki/ca.crt", 0o600, "/ is 0700"},
		{"absolute symlinked dir into a 0700 dir", pkiLinkedTo("/srv/pki"), "/etc/kubernetes/pki/ca.crt", 0o600, "/srv is 0700"},
		{"relative symlinked dir leaving the root", pkiLinkedTo("../../../../../srv/pki"), "/etc/kubernetes/pki/ca.crt", 0o600, "/srv is 0700"},
		{"symlink in a 0700 dir to an open one", func(t *testing.T) string {
			// The target is reachable by its own path: the link's
			// directory protects nothing.
			top := hostTree(t, map[string]fs.FileMode{"var/lib/kubelet": 0o700}, "etc/kubelet/config.yaml")
			symlink(t, top, "../../../etc/kubelet/config.yaml", "var/lib/kubelet/config.yaml")
			return top
		}, "/var/lib/kubelet/config.yaml", 0o644, ""},
		{"hard link", func(t *testing.T) string {
			top := hostTree(t, map[string]fs.FileMode{"var/lib/kubelet": 0o700}, "var/lib/kubelet/config.yaml")
			if err := os.Link(filepath.Join(top, "var/lib/kubelet/config.yaml"), filepath.Join(top, "config.yaml")); err != nil {
				t.Fatal(err)
			}
			return top
		}, "/var/lib/kubelet/config.yaml", 0o644, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := openRoot(t, c.setup(t))
			st, err := root.Stat(c.file)
			if err != nil {
				t.Fatal(err)
			}
			eff, err := effectiveMode(root, c.file, st)
			if err != nil {
				t.Fatal(err)
			}
			by := make([]string, len(eff.By))
			for i, d := range eff.By {
				by[i] = d.String()
			}
			if eff.Mode != c.want || strings.Join(by, ", ") != c.by {
				t.Errorf("effective %04o by %q, want %04o by %q", eff.Mode, by, c.want, c.by)
			}
		})
	}
}

func TestRealPathLoop(t *testing.T) {
	top := hostTree(t, nil)
	symlink(t, top, "b", "a")
	symlink(t, top, "a", "b")
	if _, err := realPath(openRoot(t, top), "/a/x"); err == nil {
		t.Fatal("want a loop error")
	}
}

// The switch judges the own mode, as `stat -c %a` does, and still says
// what the directories leave.
func TestStrictFileModes(t *testing.T) {
	run := func(strict bool) finding.Finding {
		pol := policy.Default()
		policy.Section[Policy](pol, Name).StrictFileModes = strict
		env := &probes.Env{Root: openRoot(t, copyFixture(t, "kubeadm-worker", nil)), Policy: pol, Role: probes.Worker}
		f := byID((&Probe{}).Run(context.Background(), env))["kubelet.config-file-permissions"]
		if f.Evidence.Get("mode") != "0644" || f.Evidence.Get("effectiveMode") != "0600" || f.Evidence.Get("restrictedBy") != "/var/lib/kubelet is 0700" {
			t.Errorf("evidence %v", f.Evidence)
		}
		return f
	}
	if f := run(false); f.Status != finding.Pass || !strings.Contains(f.Message, "0644, effectively 0600: /var/lib/kubelet is 0700") {
		t.Errorf("effective: %s (%s)", f.Status, f.Message)
	}
	if f := run(true); f.Status != finding.Fail || !strings.Contains(f.Message, "effectively 0600: /var/lib/kubelet is 0700; the file's own mode is judged") {
		t.Errorf("strict: %s (%s)", f.Status, f.Message)
	}
}

// 4.1.7 allows 644 for the client CA, the other 4.1 files 600.
func TestClientCALimit(t *testing.T) {
	for mode, want := range map[fs.FileMode]finding.Status{0o644: finding.Pass, 0o664: finding.Fail, 0o600: finding.Pass} {
		f := byID(runProbe(t, copyFixture(t, "kubeadm-worker", map[string]fs.FileMode{"etc/kubernetes/pki/ca.crt": mode})))["kubelet.client-ca-permissions"]
		if f.Status != want || f.Evidence.Get("maxMode") != "0644" {
			t.Errorf("CA at %04o: %s (%s), want %s", mode, f.Status, f.Message, want)
		}
	}
}
