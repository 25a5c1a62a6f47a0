package binaries

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/packages/rpm/rpmtest"
)

// TestOwned: a binary that dpkg, apk or rpm lists is the package's (merged
// /usr aliases folded); one no package lists is not.
func TestOwned(t *testing.T) {
	root := t.TempDir()
	write := func(name, body string) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("var/lib/dpkg/info/containerd:amd64.list", "/.\n/usr\n/usr/bin\n/bin/containerd\n")
	write("lib/apk/db/installed", "C:x\nP:cni-plugins\nV:1.4.0-r0\nF:opt/cni/bin\nR:bridge\n\n")
	rpmtest.Install(t, root, "runc", "/usr/bin/runc")
	r, err := hostfs.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := Owned(r, []string{"/usr/bin/containerd", "/opt/cni/bin/bridge", "/usr/bin/runc", "/usr/local/bin/kubelet"})
	want := map[string]string{"/usr/bin/containerd": "containerd", "/opt/cni/bin/bridge": "cni-plugins", "/usr/bin/runc": "runc"}
	if len(got) != len(want) {
		t.Errorf("owned %v, want %v", got, want)
	}
	for p, pkg := range want {
		if got[p] != pkg {
			t.Errorf("%s: owned by %q, want %q", p, got[p], pkg)
		}
	}
}
