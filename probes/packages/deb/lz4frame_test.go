package deb

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"testing"

	"github.com/pierrec/lz4/v4"
)

// TestLZ4Frames decodes what the lz4 tool writes (linked 64 KiB blocks, as
// apt's lists are) and what pierrec/lz4 writes, against the original, and
// rejects every truncation.
func TestLZ4Frames(t *testing.T) {
	var plain bytes.Buffer
	for i := 0; plain.Len() < 3<<20; i++ {
		fmt.Fprintf(&plain, "Package: pkg%d\nVersion: 1.%d-1\nDescription: package number %d of a long list\n\n", i, i%97, i)
	}
	streams := map[string][]byte{}
	if tool, err := exec.LookPath("lz4"); err == nil {
		for _, args := range [][]string{{"-q", "-c"}, {"-q", "-c", "-BD", "-B4"}, {"-q", "-c", "-BI", "--content-size", "-BX"}} {
			cmd := exec.Command(tool, args...)
			cmd.Stdin = bytes.NewReader(plain.Bytes())
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("lz4 %v: %v", args, err)
			}
			streams[fmt.Sprint(args)] = out
		}
	} else {
		t.Log("lz4 tool not installed: only pierrec/lz4's own frames are tested")
	}
	var b bytes.Buffer
	w := lz4.NewWriter(&b)
	w.Write(plain.Bytes())
	w.Close()
	streams["pierrec"] = b.Bytes()
	// Two concatenated frames are one stream.
	streams["concatenated"] = append(append([]byte(nil), b.Bytes()...), b.Bytes()...)
	for name, s := range streams {
		got, err := io.ReadAll(newLZ4Frames(bytes.NewReader(s)))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want := plain.Bytes()
		if name == "concatenated" {
			want = append(append([]byte(nil), want...), want...)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: decoded %d bytes differ from the %d original", name, len(got), len(want))
		}
		for _, cut := range []int{1, 7, len(s) / 3, len(s) - 5, len(s) - 1} {
			if name == "concatenated" {
				continue
			}
			if _, err := io.ReadAll(newLZ4Frames(bytes.NewReader(s[:cut]))); err == nil {
				t.Errorf("%s cut at %d: no error", name, cut)
			}
		}
	}
}
