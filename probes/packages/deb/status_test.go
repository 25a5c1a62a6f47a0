package deb

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// TestStatusD reads a distroless image: no status file, one stanza per
// package in status.d, md5sums files beside them.
func TestStatusD(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "var/lib/dpkg/status.d/base-files", []byte("Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n\n"))
	writeFile(t, root, "var/lib/dpkg/status.d/libssl3", []byte("Package: libssl3\nSource: openssl (3.0.11-1~deb12u1)\nVersion: 3.0.11-1~deb12u1\nArchitecture: amd64\nStatus: install ok installed\n"))
	writeFile(t, root, "var/lib/dpkg/status.d/libssl3.md5sums", []byte("d41d8cd98f00b204e9800998ecf8427e  usr/lib/libssl.so.3\n"))
	r, err := hostfs.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res, err := Scan(r, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Installed) != 2 || res.Native != "amd64" || res.Lists != 0 {
		t.Fatalf("installed %+v native %q lists %d", res.Installed, res.Native, res.Lists)
	}
	if in := res.Installed[1]; in.Source != "openssl" || in.SourceVersion != "3.0.11-1~deb12u1" {
		t.Errorf("source of libssl3 = %+v", in)
	}
	if len(res.Problems) != 0 {
		t.Errorf("problems: %v", res.Problems)
	}
}

// TestNoDpkg: a host without dpkg is an ErrNoDpkg, not an empty inventory.
func TestNoDpkg(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := hostfs.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := Scan(r, DefaultConfig()); err == nil {
		t.Fatal("no error without a dpkg database")
	}
}
