package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

const generated = "../config/v1beta1/zz_generated_types.go"

// TestGeneratedUpToDate regenerates the types from the module versions
// go.mod selects and compares them with the committed file.
func TestGeneratedUpToDate(t *testing.T) {
	mods, err := Modules()
	if err != nil {
		t.Fatal(err)
	}
	want, err := Generate(mods)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(generated)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(g), len(w)) {
			if g[i] != w[i] {
				t.Fatalf("%s is stale against go.mod (go generate ./probes/kubelet); line %d:\n got %q\nwant %q", generated, i+1, g[i], w[i])
			}
		}
		t.Fatalf("%s is stale against go.mod (go generate ./probes/kubelet): %d lines, want %d", generated, len(g), len(w))
	}
}
