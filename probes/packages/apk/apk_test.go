package apk

import (
	"os"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	f, err := os.Open("testdata/installed")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pkgs, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{"musl", "1.2.4-r2", "x86_64", "musl"},
		{"linux-virt", "6.6.14-r0", "x86_64", "linux-lts"},
		{"busybox", "1.36.1-r5", "x86_64", "busybox"},
	}
	if len(pkgs) != len(want) {
		t.Fatalf("got %d packages, want %d: %+v", len(pkgs), len(want), pkgs)
	}
	for i := range want {
		if pkgs[i] != want[i] {
			t.Errorf("package %d = %+v, want %+v", i, pkgs[i], want[i])
		}
	}
}

func TestParseBad(t *testing.T) {
	for name, in := range map[string]string{
		"no version": "P:musl\nA:x86_64\n",
		"garbage":    "P:musl\nV:1\n\x00\x01\x02 binary\n",
	} {
		if _, err := Parse(strings.NewReader(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
