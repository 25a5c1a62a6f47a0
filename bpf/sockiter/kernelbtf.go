package sockiter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// The iterator needs about a dozen facts from the kernel's BTF: the type id
// of bpf_iter_task_file (its attach point) and the offsets of the fields it
// reads. cilium/ebpf would find them by decoding and indexing all of the
// kernel's ~130,000 types, 15-25 ms of CPU on every process start, which is
// more than the iterator saves a one-shot scan. kernelBTF instead walks the
// raw type section, keeps each type's position and looks up by name only
// the few types asked for. It walks only as far as the lookups need: the
// types asked for sit about halfway through the kernel's, and the index is
// extended when a member refers further on.

const (
	btfMagic     = 0xeb9f
	btfHeaderLen = 24

	kindInt       = 1
	kindPtr       = 2
	kindArray     = 3
	kindStruct    = 4
	kindUnion     = 5
	kindEnum      = 6
	kindFwd       = 7
	kindTypedef   = 8
	kindVolatile  = 9
	kindConst     = 10
	kindRestrict  = 11
	kindFunc      = 12
	kindFuncProto = 13
	kindVar       = 14
	kindDatasec   = 15
	kindFloat     = 16
	kindDeclTag   = 17
	kindTypeTag   = 18
	kindEnum64    = 19
)

// vmlinuxBTF is where the kernel publishes its own BTF (CONFIG_DEBUG_INFO_BTF).
// It describes the running kernel, the one the iterator is loaded into, so it
// is read from the agent's /sys and not through --host-root, as cilium/ebpf
// does for the runtime programs.
const vmlinuxBTF = "/sys/kernel/btf/vmlinux"

// kernelBTF is an index over raw BTF: where each type's record starts.
type kernelBTF struct {
	types []byte
	strs  []byte
	// at[id] is the offset of type id's record in types (id 0 is void),
	// for the types indexed so far; end is where the next record starts.
	at  []uint32
	end int
}

// loadKernelBTF maps the kernel's BTF (Linux 6.16 and later allow it) or
// else reads it; release unmaps it once the caller is done with k.
func loadKernelBTF() (k *kernelBTF, release func(), err error) {
	f, err := os.Open(vmlinuxBTF)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the kernel's BTF: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("reading the kernel's BTF: %w", err)
	}
	if n := st.Size(); n > 0 && n < 1<<30 {
		if raw, err := unix.Mmap(int(f.Fd()), 0, int(n), unix.PROT_READ, unix.MAP_PRIVATE); err == nil {
			k, err := parseBTF(raw)
			if err != nil {
				unix.Munmap(raw)
				return nil, nil, err
			}
			return k, func() { unix.Munmap(raw) }, nil
		}
	}
	raw, err := io.ReadAll(io.LimitReader(f, 1<<30))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the kernel's BTF: %w", err)
	}
	k, err = parseBTF(raw)
	return k, func() {}, err
}

func parseBTF(raw []byte) (*kernelBTF, error) {
	ne := binary.NativeEndian
	if len(raw) < btfHeaderLen || ne.Uint16(raw) != btfMagic {
		return nil, errors.New("kernel BTF: bad magic (not BTF, or another byte order)")
	}
	hdrLen := ne.Uint32(raw[4:])
	typeOff, typeLen := ne.Uint32(raw[8:]), ne.Uint32(raw[12:])
	strOff, strLen := ne.Uint32(raw[16:]), ne.Uint32(raw[20:])
	section := func(off, n uint32) ([]byte, error) {
		start, end := uint64(hdrLen)+uint64(off), uint64(hdrLen)+uint64(off)+uint64(n)
		if hdrLen < btfHeaderLen || end > uint64(len(raw)) {
			return nil, errors.New("kernel BTF: section out of bounds")
		}
		return raw[start:end], nil
	}
	k := &kernelBTF{}
	var err error
	if k.types, err = section(typeOff, typeLen); err != nil {
		return nil, err
	}
	if k.strs, err = section(strOff, strLen); err != nil {
		return nil, err
	}
	k.at = make([]uint32, 1, 1+len(k.types)/16) // a type is 12 bytes or more
	return k, nil
}

// indexNext indexes the next type's record; false once all are.
func (k *kernelBTF) indexNext() (bool, error) {
	off := k.end
	if off == len(k.types) {
		return false, nil
	}
	if len(k.types)-off < 12 {
		return false, errors.New("kernel BTF: truncated type")
	}
	info := binary.NativeEndian.Uint32(k.types[off+4:])
	vlen, kind := int(info&0xffff), (info>>24)&0x1f
	var extra int
	switch kind {
	case kindInt, kindVar, kindDeclTag:
		extra = 4
	case kindPtr, kindFwd, kindTypedef, kindVolatile, kindConst, kindRestrict, kindFunc, kindFloat, kindTypeTag:
	case kindArray:
		extra = 12
	case kindStruct, kindUnion, kindDatasec, kindEnum64:
		extra = 12 * vlen
	case kindEnum, kindFuncProto:
		extra = 8 * vlen
	default:
		return false, fmt.Errorf("kernel BTF: unknown kind %d", kind)
	}
	next := off + 12 + extra
	if next > len(k.types) {
		return false, errors.New("kernel BTF: truncated type")
	}
	k.at = append(k.at, uint32(off))
	k.end = next
	return true, nil
}

// indexTo indexes types up to and including id.
func (k *kernelBTF) indexTo(id uint32) error {
	for int(id) >= len(k.at) {
		more, err := k.indexNext()
		if err != nil {
			return err
		}
		if !more {
			return fmt.Errorf("kernel BTF: no type %d", id)
		}
	}
	return nil
}

// btfType is one decoded type header.
type btfType struct {
	id       uint32
	name     []byte
	kind     uint32
	vlen     int
	kindFlag bool
	sizeType uint32 // size, or the referenced type id
	rest     []byte // the kind's trailing data
}

func (k *kernelBTF) typ(id uint32) (btfType, error) {
	if id == 0 {
		return btfType{}, errors.New("kernel BTF: no type 0")
	}
	if err := k.indexTo(id); err != nil {
		return btfType{}, err
	}
	ne := binary.NativeEndian
	off := k.at[id]
	end := uint32(k.end)
	if int(id)+1 < len(k.at) {
		end = k.at[id+1]
	}
	rec := k.types[off:end]
	info := ne.Uint32(rec[4:])
	return btfType{
		id: id, name: k.str(ne.Uint32(rec)), kind: (info >> 24) & 0x1f, vlen: int(info & 0xffff),
		kindFlag: info>>31 == 1, sizeType: ne.Uint32(rec[8:]), rest: rec[12:],
	}, nil
}

func (k *kernelBTF) str(off uint32) []byte {
	if int(off) >= len(k.strs) {
		return nil
	}
	s := k.strs[off:]
	if i := bytes.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// typeKey names a type to look up.
type typeKey struct {
	kind uint32
	name string
}

// findAll returns the first type of each key, in one pass over the types.
func (k *kernelBTF) findAll(keys ...typeKey) (map[typeKey]btfType, error) {
	ne := binary.NativeEndian
	found := make([]uint32, len(keys))
	left := len(keys)
	for id := 1; left > 0; id++ {
		if id == len(k.at) {
			more, err := k.indexNext()
			if err != nil {
				return nil, err
			}
			if !more {
				break
			}
		}
		rec := k.types[k.at[id]:]
		kind := (ne.Uint32(rec[4:]) >> 24) & 0x1f
		if kind != kindStruct && kind != kindFunc {
			continue
		}
		// The name is compared where it starts, not cut out of the string
		// section first: only a key's length of bytes and its terminator
		// are read (this runs for the ~70,000 functions and structs).
		off := int(ne.Uint32(rec))
		if off >= len(k.strs) {
			continue
		}
		name := k.strs[off:]
		for i, key := range keys {
			if found[i] == 0 && key.kind == kind && len(name) > len(key.name) && name[len(key.name)] == 0 &&
				string(name[:len(key.name)]) == key.name {
				found[i] = uint32(id)
				left--
			}
		}
	}
	out := make(map[typeKey]btfType, len(keys))
	for i, key := range keys {
		if found[i] == 0 {
			return nil, fmt.Errorf("kernel BTF: no %s %q", kindName(key.kind), key.name)
		}
		t, err := k.typ(found[i])
		if err != nil {
			return nil, err
		}
		out[key] = t
	}
	return out, nil
}

// skipQualifiers follows typedefs and cv/type-tag qualifiers to the type they name.
func (k *kernelBTF) skipQualifiers(id uint32) (btfType, error) {
	for range 32 {
		t, err := k.typ(id)
		if err != nil {
			return t, err
		}
		switch t.kind {
		case kindTypedef, kindVolatile, kindConst, kindRestrict, kindTypeTag:
			id = t.sizeType
			continue
		}
		return t, nil
	}
	return btfType{}, fmt.Errorf("kernel BTF: type %d: qualifier chain too long", id)
}

// size is the byte size of type id.
func (k *kernelBTF) size(id uint32) (uint32, error) {
	t, err := k.skipQualifiers(id)
	if err != nil {
		return 0, err
	}
	switch t.kind {
	case kindInt, kindStruct, kindUnion, kindEnum, kindEnum64, kindFloat:
		return t.sizeType, nil
	case kindPtr:
		return 8, nil
	}
	return 0, fmt.Errorf("kernel BTF: %s %q has no fixed size", kindName(t.kind), t.name)
}

// field is a struct member: where it is and what it is.
type field struct {
	offset uint32 // bytes from the start of the outer struct
	typeID uint32
	size   uint32
}

// member finds member name of struct or union t, looking into anonymous
// struct and union members as C does (the kernel wraps many fields in them).
func (k *kernelBTF) member(t btfType, name string) (field, error) {
	f, ok, err := k.memberIn(t, name, 0, 0)
	if err == nil && !ok {
		err = fmt.Errorf("kernel BTF: %s %s has no member %q", kindName(t.kind), t.name, name)
	}
	return f, err
}

func (k *kernelBTF) memberIn(t btfType, name string, base uint32, depth int) (field, bool, error) {
	if t.kind != kindStruct && t.kind != kindUnion {
		return field{}, false, fmt.Errorf("kernel BTF: %q is not a struct or union", t.name)
	}
	if depth > 8 {
		return field{}, false, nil
	}
	ne := binary.NativeEndian
	for i := range t.vlen {
		m := t.rest[12*i:]
		mname, mtype, moff := k.str(ne.Uint32(m)), ne.Uint32(m[4:]), ne.Uint32(m[8:])
		bitOff := moff
		if t.kindFlag {
			if moff>>24 != 0 && string(mname) == name {
				return field{}, false, fmt.Errorf("kernel BTF: %s.%s is a bitfield", t.name, name)
			}
			bitOff = moff & 0xffffff
		}
		if len(mname) == 0 {
			inner, err := k.skipQualifiers(mtype)
			if err != nil || inner.kind != kindStruct && inner.kind != kindUnion {
				continue
			}
			if f, ok, err := k.memberIn(inner, name, base+bitOff/8, depth+1); ok || err != nil {
				return f, ok, err
			}
			continue
		}
		if string(mname) != name {
			continue
		}
		if bitOff%8 != 0 {
			return field{}, false, fmt.Errorf("kernel BTF: %s.%s is not byte-aligned", t.name, name)
		}
		f := field{offset: base + bitOff/8, typeID: mtype}
		// A flexible array member has no size of its own; its users take
		// the element's size.
		if inner, err := k.skipQualifiers(mtype); err == nil && inner.kind != kindArray {
			size, err := k.size(mtype)
			if err != nil {
				return field{}, false, err
			}
			f.size = size
		}
		return f, true, nil
	}
	return field{}, false, nil
}

func kindName(kind uint32) string {
	switch kind {
	case kindStruct:
		return "struct"
	case kindUnion:
		return "union"
	case kindFunc:
		return "function"
	}
	return fmt.Sprintf("kind %d", kind)
}
