package deb

import (
	"bytes"
	"io"
	"testing"
)

// FuzzStanzaReader: any input ends in paragraphs or an error, never a panic
// or a hang, and stanzas come in file order.
func FuzzStanzaReader(f *testing.F) {
	f.Add([]byte("Package: a\nVersion: 1.0\nDescription: x\n more\n\nPackage: b\nVersion: 2\n"))
	f.Add([]byte("\n\n# c\nPackage: a\n\tcont\n"))
	f.Add([]byte(" leading continuation\n"))
	f.Add([]byte("no colon\n"))
	f.Add([]byte("Package: \x00\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, comments := range []bool{false, true} {
			sr := NewStanzaReader(bytes.NewReader(data), []string{"Package", "Version", "Description"}, comments)
			last := 0
			for i := 0; i < len(data)+2; i++ {
				st, err := sr.Next()
				if err != nil {
					break
				}
				if st.Line <= last {
					t.Fatalf("stanza at line %d after one at line %d", st.Line, last)
				}
				last = st.Line
			}
			ReadParagraphs(bytes.NewReader(data), comments)
		}
		ParseRelease(data)
		ParseSources(bytes.NewReader(data), "fuzz")
		ParseSourcesList(bytes.NewReader(data), "fuzz")
		ParsePreferences(bytes.NewReader(data), "fuzz")
	})
}

// FuzzParseVersion: parsing never panics, and accepted versions order
// consistently (antisymmetric, equal to themselves).
func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.0", "1:2.3-4", "1.0~rc1+b1", "2:9.0.1378-2", "0", "1.0-", "1:", "~", "1.0a~b-1.2"} {
		f.Add(s, "1.0")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		va, errA := ParseVersion(a)
		vb, errB := ParseVersion(b)
		if errA != nil || errB != nil {
			return
		}
		if va.Compare(va) != 0 {
			t.Fatalf("%q != itself", a)
		}
		if va.Compare(vb) != -vb.Compare(va) {
			t.Fatalf("Compare(%q, %q) = %d but reverse = %d", a, b, va.Compare(vb), vb.Compare(va))
		}
	})
}

// FuzzDecompress: truncated or corrupt compressed lists fail cleanly.
func FuzzDecompress(f *testing.F) {
	for _, ext := range []string{".lz4", ".zst", ".gz", ".xz"} {
		f.Add(ext, compress(f, ext, []byte("Package: a\nVersion: 1\n\n"))[:10])
	}
	f.Add(".bz2", []byte("BZh91AY&SY"))
	f.Fuzz(func(t *testing.T, ext string, data []byte) {
		r, closeFn, err := Decompress("x_Packages"+ext, bytes.NewReader(data))
		if err != nil {
			return
		}
		defer closeFn()
		io.Copy(io.Discard, io.LimitReader(r, 1<<20))
	})
}
