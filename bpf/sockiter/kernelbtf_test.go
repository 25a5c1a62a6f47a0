package sockiter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
)

func kernelBTFOrSkip(t testing.TB) []byte {
	t.Helper()
	raw, err := os.ReadFile(vmlinuxBTF)
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("this kernel publishes no BTF")
	}
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// ciliumMember finds a member's byte offset the way a CO-RE loader would,
// with cilium/ebpf's full BTF decoder: the oracle for kernelBTF.member.
func ciliumMember(t *testing.T, s btf.Type, name string) (uint32, bool) {
	t.Helper()
	var members []btf.Member
	switch c := btf.UnderlyingType(s).(type) {
	case *btf.Struct:
		members = c.Members
	case *btf.Union:
		members = c.Members
	default:
		return 0, false
	}
	for _, m := range members {
		if m.Name == name {
			return m.Offset.Bytes(), true
		}
		if m.Name == "" {
			if off, ok := ciliumMember(t, m.Type, name); ok {
				return m.Offset.Bytes() + off, true
			}
		}
	}
	return 0, false
}

// TestLayoutMatchesCilium holds the offsets and the attach point the
// iterator is assembled with to what cilium/ebpf decodes from the same BTF.
func TestLayoutMatchesCilium(t *testing.T) {
	raw := kernelBTFOrSkip(t)
	k, err := parseBTF(raw)
	if err != nil {
		t.Fatal(err)
	}
	l, err := readLayout(k)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var fn *btf.Func
	if err := spec.TypeByName("bpf_iter_task_file", &fn); err != nil {
		t.Fatal(err)
	}
	if id, err := spec.TypeID(fn); err != nil || uint32(id) != l.attachBTFID {
		t.Errorf("bpf_iter_task_file: id %d, cilium says %d (%v)", l.attachBTFID, id, err)
	}
	for _, c := range []struct {
		strct, member string
		got           int64
	}{
		{"bpf_iter__task_file", "meta", int64(l.ctxMeta)},
		{"bpf_iter__task_file", "task", int64(l.ctxTask)},
		{"bpf_iter__task_file", "fd", int64(l.ctxFD)},
		{"bpf_iter__task_file", "file", int64(l.ctxFile)},
		{"bpf_iter_meta", "seq", int64(l.metaSeq)},
		{"file", "f_inode", int64(l.fileInode)},
		{"inode", "i_mode", int64(l.inodeMode)},
		{"inode", "i_ino", int64(l.inodeIno)},
		{"task_struct", "group_leader", int64(l.taskGroupLeader)},
		{"task_struct", "thread_pid", int64(l.taskThreadPid)},
		{"pid", "level", int64(l.pidLevel)},
		{"pid", "numbers", int64(l.pidNumbers)},
		{"upid", "nr", int64(l.upidNr)},
	} {
		var s *btf.Struct
		if err := spec.TypeByName(c.strct, &s); err != nil {
			t.Fatal(err)
		}
		want, ok := ciliumMember(t, s, c.member)
		if !ok {
			t.Fatalf("cilium finds no %s.%s", c.strct, c.member)
		}
		if c.got != int64(want) {
			t.Errorf("%s.%s at %d, cilium says %d", c.strct, c.member, c.got, want)
		}
	}
	var upid *btf.Struct
	if err := spec.TypeByName("upid", &upid); err != nil {
		t.Fatal(err)
	}
	if uint32(l.upidSize) != upid.Size {
		t.Errorf("sizeof(struct upid) %d, cilium says %d", l.upidSize, upid.Size)
	}
}

// TestMappedEqualsRead: the mmap path and the read fallback see the same BTF.
func TestMappedEqualsRead(t *testing.T) {
	raw := kernelBTFOrSkip(t)
	k, release, err := loadKernelBTF()
	if err != nil {
		t.Fatal(err)
	}
	mapped, err := readLayout(k)
	release()
	if err != nil {
		t.Fatal(err)
	}
	kr, err := parseBTF(raw)
	if err != nil {
		t.Fatal(err)
	}
	read, err := readLayout(kr)
	if err != nil {
		t.Fatal(err)
	}
	if *mapped != *read {
		t.Fatalf("mapped %+v, read %+v", *mapped, *read)
	}
}

// smallBTF is a valid BTF blob with a struct, a union inside it and a
// function, made with cilium/ebpf's encoder.
func smallBTF(t testing.TB) []byte {
	t.Helper()
	u32 := &btf.Int{Name: "u32", Size: 4}
	inner := &btf.Union{Size: 8, Members: []btf.Member{{Name: "seq", Type: &btf.Pointer{Target: u32}}}}
	s := &btf.Struct{Name: "bpf_iter_meta", Size: 16, Members: []btf.Member{
		{Type: inner}, {Name: "session_id", Type: u32, Offset: 64},
	}}
	fn := &btf.Func{Name: "bpf_iter_task_file", Type: &btf.FuncProto{Return: u32}, Linkage: btf.StaticFunc}
	b, err := btf.NewBuilder([]btf.Type{s, fn}, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestSmallBTF(t *testing.T) {
	k, err := parseBTF(smallBTF(t))
	if err != nil {
		t.Fatal(err)
	}
	types, err := k.findAll(typeKey{kindStruct, "bpf_iter_meta"}, typeKey{kindFunc, "bpf_iter_task_file"})
	if err != nil {
		t.Fatal(err)
	}
	meta := types[typeKey{kindStruct, "bpf_iter_meta"}]
	for name, want := range map[string]field{"seq": {offset: 0, size: 8}, "session_id": {offset: 8, size: 4}} {
		f, err := k.member(meta, name)
		if err != nil || f.offset != want.offset || f.size != want.size {
			t.Errorf("member %s: %+v, %v; want offset %d size %d", name, f, err, want.offset, want.size)
		}
	}
	if _, err := k.member(meta, "nope"); err == nil {
		t.Error("a missing member was found")
	}
	if _, err := k.findAll(typeKey{kindStruct, "task_struct"}); err == nil {
		t.Error("a missing struct was found")
	}
	if _, err := readLayout(k); err == nil {
		t.Error("readLayout succeeded on BTF without the kernel's structs")
	}
}

func TestParseBTFRejectsMalformed(t *testing.T) {
	good := smallBTF(t)
	ne := binary.NativeEndian
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for name, raw := range map[string][]byte{
		"empty":     nil,
		"bad magic": mutate(func(b []byte) []byte { b[0] ^= 0xff; return b }),
		"short":     good[:10],
		"type section beyond the end": mutate(func(b []byte) []byte {
			ne.PutUint32(b[12:], uint32(len(b)))
			return b
		}),
		"truncated type": mutate(func(b []byte) []byte {
			ne.PutUint32(b[12:], ne.Uint32(b[12:])-3)
			return b
		}),
		"unknown kind": mutate(func(b []byte) []byte {
			hdr := ne.Uint32(b[4:])
			info := hdr + ne.Uint32(b[8:]) + 4
			ne.PutUint32(b[info:], 31<<24)
			return b
		}),
	} {
		// The types are indexed as far as the lookups need: a malformed
		// record is an error when a walk reaches it (looking for a type
		// that is not there walks them all).
		k, err := parseBTF(raw)
		if err == nil {
			_, err = k.findAll(typeKey{kindStruct, "not_in_any_kernel"})
			if err != nil && strings.Contains(err.Error(), "no struct") {
				err = nil
			}
		}
		if err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// FuzzParseBTF: no input makes the reader panic or loop.
func FuzzParseBTF(f *testing.F) {
	f.Add(smallBTF(f))
	f.Fuzz(func(t *testing.T, raw []byte) {
		k, err := parseBTF(raw)
		if err != nil {
			return
		}
		types, err := k.findAll(typeKey{kindStruct, "bpf_iter_meta"})
		if err != nil {
			return
		}
		k.member(types[typeKey{kindStruct, "bpf_iter_meta"}], "seq")
		readLayout(k)
	})
}

// BenchmarkReadLayout is what each start of the iterator spends on the
// kernel's BTF: indexing it as far as the lookups need and reading the
// layout (docs/benchmarks.md).
func BenchmarkReadLayout(b *testing.B) {
	raw := kernelBTFOrSkip(b)
	for b.Loop() {
		k, err := parseBTF(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := readLayout(k); err != nil {
			b.Fatal(err)
		}
	}
}
