package rpm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// rpm header tags the inventory needs.
const (
	tagName       = 1000
	tagVersion    = 1001
	tagRelease    = 1002
	tagEpoch      = 1003
	tagArch       = 1022
	tagSourceRPM  = 1044
	tagDirIndexes = 1116
	tagBaseNames  = 1117
	tagDirNames   = 1118

	typeInt32       = 4
	typeString      = 6
	typeStringArray = 8
)

var errHeader = errors.New("corrupt rpm header")

// parseHeader reads the NEVRA of an rpm header blob as the sqlite and ndb
// databases store it: index count and data length (big-endian int32), the
// 16-byte index entries, then the data store.
func parseHeader(blob []byte) (Package, error) {
	var p Package
	if len(blob) < 8 {
		return p, fmt.Errorf("%w: %d bytes", errHeader, len(blob))
	}
	il := binary.BigEndian.Uint32(blob[0:4])
	dl := binary.BigEndian.Uint32(blob[4:8])
	if il > 1<<16 || dl > 256<<20 || uint64(8)+uint64(il)*16+uint64(dl) > uint64(len(blob)) {
		return p, fmt.Errorf("%w: %d index entries, %d data bytes in a %d-byte blob", errHeader, il, dl, len(blob))
	}
	data := blob[8+il*16 : 8+il*16+dl]
	for i := uint32(0); i < il; i++ {
		e := blob[8+i*16 : 8+i*16+16]
		tag := binary.BigEndian.Uint32(e[0:4])
		typ := binary.BigEndian.Uint32(e[4:8])
		off := binary.BigEndian.Uint32(e[8:12])
		if off >= uint32(len(data)) {
			continue
		}
		switch {
		case typ == typeString && (tag == tagName || tag == tagVersion || tag == tagRelease || tag == tagArch || tag == tagSourceRPM):
			s := data[off:]
			if end := bytes.IndexByte(s, 0); end >= 0 {
				s = s[:end]
			}
			switch tag {
			case tagName:
				p.Name = string(s)
			case tagVersion:
				p.Version = string(s)
			case tagRelease:
				p.Release = string(s)
			case tagArch:
				p.Arch = string(s)
			case tagSourceRPM:
				p.SourceRPM = string(s)
			}
		case typ == typeInt32 && tag == tagEpoch && int(off)+4 <= len(data):
			p.Epoch = int(int32(binary.BigEndian.Uint32(data[off:])))
		}
	}
	if p.Name == "" || p.Version == "" {
		return p, fmt.Errorf("%w: no name or version", errHeader)
	}
	return p, nil
}

// headerFiles returns a header's package name and the paths of its files
// (rpm -ql): each BASENAMES entry joined to the DIRNAMES entry its
// DIRINDEXES entry names.
func headerFiles(blob []byte) (name string, files []string, err error) {
	if len(blob) < 8 {
		return "", nil, fmt.Errorf("%w: %d bytes", errHeader, len(blob))
	}
	il := binary.BigEndian.Uint32(blob[0:4])
	dl := binary.BigEndian.Uint32(blob[4:8])
	if il > 1<<16 || dl > 256<<20 || uint64(8)+uint64(il)*16+uint64(dl) > uint64(len(blob)) {
		return "", nil, fmt.Errorf("%w: %d index entries, %d data bytes in a %d-byte blob", errHeader, il, dl, len(blob))
	}
	data := blob[8+il*16 : 8+il*16+dl]
	var base, dirs []string
	var index []uint32
	for i := uint32(0); i < il; i++ {
		e := blob[8+i*16 : 8+i*16+16]
		tag, typ := binary.BigEndian.Uint32(e[0:4]), binary.BigEndian.Uint32(e[4:8])
		off, count := binary.BigEndian.Uint32(e[8:12]), binary.BigEndian.Uint32(e[12:16])
		if off >= uint32(len(data)) || count > uint32(len(data)) {
			continue
		}
		switch {
		case tag == tagName && typ == typeString:
			if s := stringsAt(data[off:], 1); len(s) == 1 {
				name = s[0]
			}
		case tag == tagBaseNames && typ == typeStringArray:
			base = stringsAt(data[off:], count)
		case tag == tagDirNames && typ == typeStringArray:
			dirs = stringsAt(data[off:], count)
		case tag == tagDirIndexes && typ == typeInt32 && uint64(off)+4*uint64(count) <= uint64(len(data)):
			index = make([]uint32, count)
			for j := range index {
				index[j] = binary.BigEndian.Uint32(data[off+4*uint32(j):])
			}
		}
	}
	if name == "" {
		return "", nil, fmt.Errorf("%w: no name", errHeader)
	}
	if len(base) != len(index) {
		return name, nil, fmt.Errorf("%w: %s: %d file names, %d directory indexes", errHeader, name, len(base), len(index))
	}
	files = make([]string, 0, len(base))
	for i, b := range base {
		if int(index[i]) >= len(dirs) {
			return name, nil, fmt.Errorf("%w: %s: directory index %d of %d", errHeader, name, index[i], len(dirs))
		}
		files = append(files, dirs[index[i]]+b)
	}
	return name, files, nil
}

// stringsAt reads n NUL-terminated strings from b; fewer when b ends first.
func stringsAt(b []byte, n uint32) []string {
	var out []string
	for ; n > 0; n-- {
		end := bytes.IndexByte(b, 0)
		if end < 0 {
			break
		}
		out = append(out, string(b[:end]))
		b = b[end+1:]
	}
	return out
}
