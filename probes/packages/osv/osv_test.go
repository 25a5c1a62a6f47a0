package osv

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestMatch(t *testing.T) {
	db, err := Load("testdata/bundle")
	if err != nil {
		t.Fatal(err)
	}
	if db.Len() != 4 {
		t.Fatalf("loaded %d advisories, want 4", db.Len())
	}
	for _, c := range []struct {
		eco, name, version string
		want               []string
		fixed              string
	}{
		{"Debian:12", "openssl", "3.0.11-1~deb12u1", []string{"DSA-5532-1"}, "3.0.11-1~deb12u2"},
		{"Debian:12", "openssl", "3.0.11-1~deb12u2", nil, ""},
		{"Debian:12", "openssl", "3.0.15-1~deb12u1", nil, ""},
		{"Debian:11", "openssl", "1.1.1n-0+deb11u5", []string{"DSA-5532-1"}, "1.1.1w-0+deb11u1"},
		{"Debian:12", "zlib", "1:1.2.13.dfsg-1", []string{"DLA-0001-1"}, "1:1.2.13.dfsg-1+deb12u1"},
		{"Debian:12", "zlib", "1.2.13.dfsg-1", nil, ""}, // before "introduced": epoch 0 < 1
		{"Ubuntu:22.04", "curl", "7.81.0-1ubuntu1.15", []string{"USN-6000-1"}, "7.81.0-1ubuntu1.16"},
		{"Alpine:v3.19", "musl", "1.2.4-r2", []string{"ALPINE-CVE-2024-0003"}, "1.2.4_git20230717-r5"},
		{"Alpine:v3.19", "musl", "1.2.4_git20230717-r5", nil, ""},
		{"Alpine:v3.19", "busybox", "1.36.1-r5", []string{"ALPINE-CVE-2024-0003"}, ""},
		{"Alpine:v3.19", "busybox", "1.36.1-r6", nil, ""},
		{"Alpine:v3.18", "musl", "1.2.4-r2", nil, ""},
	} {
		vs, err := db.Match(c.eco, c.name, c.version)
		if err != nil {
			t.Errorf("%s %s %s: %v", c.eco, c.name, c.version, err)
			continue
		}
		var ids []string
		fixed := ""
		for _, v := range vs {
			ids = append(ids, v.ID)
			fixed = v.Fixed
		}
		if !reflect.DeepEqual(ids, c.want) || fixed != c.fixed {
			t.Errorf("%s %s %s: got %v fixed %q, want %v fixed %q", c.eco, c.name, c.version, ids, fixed, c.want, c.fixed)
		}
	}
	vs, _ := db.Match("Debian:12", "openssl", "3.0.9-1")
	if len(vs) != 1 || !reflect.DeepEqual(vs[0].CVEs, []string{"CVE-2023-5363", "CVE-2023-5678"}) {
		t.Errorf("CVE ids = %+v", vs)
	}
	if vs, _ := db.Match("Debian:12", "zlib", "1:1.2.13.dfsg-1"); len(vs) != 1 || !reflect.DeepEqual(vs[0].CVEs, []string{"CVE-2024-0001"}) {
		t.Errorf("upstream CVE ids = %+v", vs)
	}
}

func TestCompareAPK(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.2.4-r2", "1.2.4-r10", -1}, {"1.2.4_rc1-r0", "1.2.4-r0", -1}, {"1.2.4_p1-r0", "1.2.4-r0", 1},
		{"1.2.4_git20230717-r5", "1.2.4-r2", 1}, {"1.36.1-r5", "1.36.1-r5", 0}, {"2.0a-r0", "2.0-r0", 1},
		{"1.10-r0", "1.9-r0", 1},
	} {
		if got := CompareAPK(c.a, c.b); got != c.want {
			t.Errorf("CompareAPK(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestLoadBad(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil {
		t.Error("malformed bundle: no error")
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing bundle: no error")
	}
}
