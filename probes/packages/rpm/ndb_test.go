package rpm

import (
	"bytes"
	"encoding/binary"
	"hash/adler32"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// No rpm on this machine writes ndb (Debian builds rpm without it), so the
// Packages.db of these tests is laid out here from rpm's rpmpkg.c, with
// header blobs rpm itself wrote: those of the sqlite fixtures.

type ndbEntry struct {
	pkgidx uint32
	blob   []byte
}

// buildNDB lays out a Packages.db with pages slot pages; entries are
// placed in the order given, each after a free slot when gaps is set.
func buildNDB(pages int, entries []ndbEntry, gaps bool) []byte {
	le := binary.LittleEndian
	var db bytes.Buffer
	db.Write(make([]byte, pages*ndbPageSize))
	out := db.Bytes()
	copy(out, "RpmP")
	le.PutUint32(out[4:], 0)
	le.PutUint32(out[8:], 7) // generation
	le.PutUint32(out[12:], uint32(pages))
	le.PutUint32(out[16:], uint32(len(entries)+1))
	for o := ndbHeaderSize; o < len(out); o += ndbSlotSize {
		copy(out[o:], "Slot")
	}
	slot := ndbHeaderSize
	for _, e := range entries {
		if gaps {
			slot += ndbSlotSize // a free slot: "Slot" and zeros
		}
		blkcnt := (ndbBlobHead + len(e.blob) + ndbBlobTail + ndbBlkSize - 1) / ndbBlkSize
		blkoff := len(out) / ndbBlkSize
		blob := make([]byte, blkcnt*ndbBlkSize)
		copy(blob, "BlbS")
		le.PutUint32(blob[4:], e.pkgidx)
		le.PutUint32(blob[8:], 1700000000)
		le.PutUint32(blob[12:], uint32(len(e.blob)))
		copy(blob[ndbBlobHead:], e.blob)
		tail := blob[len(blob)-ndbBlobTail:]
		le.PutUint32(tail, adler32.Checksum(blob[:len(blob)-ndbBlobTail]))
		le.PutUint32(tail[4:], uint32(len(e.blob)))
		copy(tail[8:], "BlbE")
		out = append(out, blob...)
		le.PutUint32(out[slot+4:], e.pkgidx)
		le.PutUint32(out[slot+8:], uint32(blkoff))
		le.PutUint32(out[slot+12:], uint32(blkcnt))
		slot += ndbSlotSize
	}
	return out
}

// fixtureBlobs are the header blobs rpm wrote into the sqlite fixtures.
func fixtureBlobs(t testing.TB) [][]byte {
	var all [][]byte
	for _, p := range []string{"testdata/sqlite/var/lib/rpm/rpmdb.sqlite", "../testdata/rhel-dnf/var/lib/rpm/rpmdb.sqlite"} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		blobs, err := sqlitePackages(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, blobs...)
	}
	return all
}

func writeNDB(t *testing.T, data []byte) *hostfs.Root {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "usr/lib/sysimage/rpm"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "usr/lib/sysimage/rpm/Packages.db"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := hostfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func names(pkgs []Package) string {
	var s []string
	for _, p := range pkgs {
		s = append(s, p.Name+"-"+p.EVR()+"."+p.Arch)
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

func TestReadNDB(t *testing.T) {
	blobs := fixtureBlobs(t)
	var want []Package
	var entries []ndbEntry
	for i, b := range blobs {
		p, err := parseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
		// Package indexes out of file order, as after upgrades.
		entries = append(entries, ndbEntry{pkgidx: uint32(100 - i), blob: b})
	}
	for _, c := range []struct {
		name  string
		pages int
		gaps  bool
	}{{"one slot page", 1, false}, {"free slots", 1, true}, {"two slot pages", 2, true}} {
		r := writeNDB(t, buildNDB(c.pages, entries, c.gaps))
		got, err := Read(r, "/usr/lib/sysimage/rpm/Packages.db")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if names(got) != names(want) || len(got) != 14 {
			t.Errorf("%s: read %s\nwant %s", c.name, names(got), names(want))
		}
	}
	// Enough packages to fill the first slot page (254 slots) and go on in the second.
	var many []ndbEntry
	for i := 0; i < 300; i++ {
		many = append(many, ndbEntry{pkgidx: uint32(i + 1), blob: blobs[i%len(blobs)]})
	}
	data := buildNDB(2, many, false)
	if got, err := ndbPackages(bytes.NewReader(data), int64(len(data))); err != nil || len(got) != 300 {
		t.Errorf("300 packages: %d read, err %v", len(got), err)
	}
}

func TestReadNDBCorrupt(t *testing.T) {
	blobs := fixtureBlobs(t)
	good := buildNDB(1, []ndbEntry{{1, blobs[0]}, {2, blobs[1]}}, false)
	le := binary.LittleEndian
	mutate := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	blob0 := ndbPageSize // the first blob starts right after the slot page
	for name, data := range map[string][]byte{
		"empty":           {},
		"bad magic":       mutate(func(b []byte) []byte { copy(b, "RpmX"); return b }),
		"version 1":       mutate(func(b []byte) []byte { le.PutUint32(b[4:], 1); return b }),
		"zero pages":      mutate(func(b []byte) []byte { le.PutUint32(b[12:], 0); return b }),
		"huge page count": mutate(func(b []byte) []byte { le.PutUint32(b[12:], 1<<31); return b }),
		"truncated":       good[:len(good)-64],
		"odd size":        good[:len(good)-3],
		"slot magic":      mutate(func(b []byte) []byte { copy(b[ndbHeaderSize+16:], "Slox"); return b }),
		"slot in pages":   mutate(func(b []byte) []byte { le.PutUint32(b[ndbHeaderSize+8:], 3); return b }),
		"blob magic":      mutate(func(b []byte) []byte { copy(b[blob0:], "BlbX"); return b }),
		"blob pkgidx":     mutate(func(b []byte) []byte { le.PutUint32(b[blob0+4:], 9); return b }),
		"blob length":     mutate(func(b []byte) []byte { le.PutUint32(b[blob0+12:], 1<<30); return b }),
		"flipped byte":    mutate(func(b []byte) []byte { b[blob0+40] ^= 0xff; return b }),
		"huge blkcnt":     mutate(func(b []byte) []byte { le.PutUint32(b[ndbHeaderSize+12:], 1<<30); return b }),
	} {
		r := writeNDB(t, data)
		if _, err := Read(r, "/usr/lib/sysimage/rpm/Packages.db"); err == nil || !strings.Contains(err.Error(), "/usr/lib/sysimage/rpm/Packages.db") {
			t.Errorf("%s: err = %v, want an error naming the file", name, err)
		}
	}
}

func FuzzNDB(f *testing.F) {
	blobs := fixtureBlobs(f)
	f.Add(buildNDB(1, []ndbEntry{{1, blobs[0]}}, true))
	f.Fuzz(func(t *testing.T, b []byte) {
		bl, _ := ndbPackages(bytes.NewReader(b), int64(len(b)))
		for _, x := range bl {
			parseHeader(x)
			headerFiles(x)
		}
	})
}
