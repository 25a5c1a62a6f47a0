package rpm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"sort"
)

// The ndb rpmdb (rpm ≥ 4.16, SUSE's default) keeps the header blobs in
// Packages.db, laid out as rpm's lib/backend/ndb/rpmpkg.c writes it, all
// integers little-endian:
//
//	header (32 bytes): "RpmP", version 0, generation, slot pages, next pkgidx
//	slot pages (4096 bytes each, the first one after the header):
//	  16-byte slots "Slot", pkgidx, blkoff, blkcnt; blkoff 0 is a free slot
//	blobs at blkoff*16, blkcnt 16-byte blocks:
//	  "BlbS", pkgidx, timestamp, length, the header blob, zero padding,
//	  then adler32 (of everything before it), length, "BlbE"

var errNDB = errors.New("corrupt ndb database")

const (
	ndbHeaderSize = 32
	ndbSlotSize   = 16
	ndbBlkSize    = 16
	ndbPageSize   = 4096
	ndbBlobHead   = 16
	ndbBlobTail   = 12
	// maxNDBBlob bounds one header blob; rpm's own limit on a header is 256 MiB.
	maxNDBBlob = 256 << 20
)

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

var (
	ndbMagic      = le32([]byte("RpmP"))
	ndbSlotMagic  = le32([]byte("Slot"))
	ndbBlobMagic  = le32([]byte("BlbS"))
	ndbBlobEMagic = le32([]byte("BlbE"))
)

type ndbSlot struct{ pkgidx, blkoff, blkcnt uint32 }

// ndbPackages returns the header blobs of a Packages.db, in the order rpm
// lists them (by position in the file).
func ndbPackages(r io.ReaderAt, size int64) ([][]byte, error) {
	var hdr [ndbHeaderSize]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return nil, fmt.Errorf("%w: short header", errNDB)
	}
	if le32(hdr[0:]) != ndbMagic {
		return nil, fmt.Errorf("%w: no RpmP magic", errNDB)
	}
	if v := le32(hdr[4:]); v != 0 {
		return nil, fmt.Errorf("%w: version %d, want 0", errNDB, v)
	}
	if size%ndbBlkSize != 0 {
		return nil, fmt.Errorf("%w: size %d is not a multiple of %d", errNDB, size, ndbBlkSize)
	}
	fileBlks := uint64(size / ndbBlkSize)
	pages := uint64(le32(hdr[12:]))
	if pages == 0 || pages*ndbPageSize > uint64(size) {
		return nil, fmt.Errorf("%w: %d slot pages in a %d-byte file", errNDB, pages, size)
	}
	minBlk := pages * (ndbPageSize / ndbBlkSize)
	var slots []ndbSlot
	page := make([]byte, ndbPageSize)
	for p := uint64(0); p < pages; p++ {
		if _, err := r.ReadAt(page, int64(p*ndbPageSize)); err != nil {
			return nil, fmt.Errorf("%w: slot page %d: %v", errNDB, p, err)
		}
		start := 0
		if p == 0 {
			start = ndbHeaderSize
		}
		for o := start; o < ndbPageSize; o += ndbSlotSize {
			s := page[o : o+ndbSlotSize]
			if le32(s) != ndbSlotMagic {
				return nil, fmt.Errorf("%w: slot at offset %d has no Slot magic", errNDB, p*ndbPageSize+uint64(o))
			}
			sl := ndbSlot{pkgidx: le32(s[4:]), blkoff: le32(s[8:]), blkcnt: le32(s[12:])}
			if sl.blkoff == 0 {
				continue // free
			}
			if uint64(sl.blkoff)+uint64(sl.blkcnt) > fileBlks {
				return nil, fmt.Errorf("%w: package %d lies past the end of the file (truncated?)", errNDB, sl.pkgidx)
			}
			if sl.pkgidx == 0 || sl.blkcnt == 0 || uint64(sl.blkoff) < minBlk {
				return nil, fmt.Errorf("%w: bad slot for package %d", errNDB, sl.pkgidx)
			}
			slots = append(slots, sl)
		}
	}
	sort.Slice(slots, func(i, j int) bool { return slots[i].blkoff < slots[j].blkoff })
	out := make([][]byte, 0, len(slots))
	for _, sl := range slots {
		b, err := ndbBlob(r, sl)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// ndbBlob reads and checks one blob: magics, package index, length and
// the adler32 checksum.
func ndbBlob(r io.ReaderAt, sl ndbSlot) ([]byte, error) {
	n := uint64(sl.blkcnt) * ndbBlkSize
	if n < ndbBlobHead+ndbBlobTail || n > maxNDBBlob+ndbBlobHead+ndbBlobTail+ndbBlkSize {
		return nil, fmt.Errorf("%w: package %d: blob of %d blocks", errNDB, sl.pkgidx, sl.blkcnt)
	}
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, int64(sl.blkoff)*ndbBlkSize); err != nil {
		return nil, fmt.Errorf("%w: package %d: %v", errNDB, sl.pkgidx, err)
	}
	if le32(buf) != ndbBlobMagic || le32(buf[4:]) != sl.pkgidx {
		return nil, fmt.Errorf("%w: package %d: bad blob header", errNDB, sl.pkgidx)
	}
	length := uint64(le32(buf[12:]))
	if (ndbBlobHead+length+ndbBlobTail+ndbBlkSize-1)/ndbBlkSize != uint64(sl.blkcnt) {
		return nil, fmt.Errorf("%w: package %d: blob length %d does not fit its %d blocks", errNDB, sl.pkgidx, length, sl.blkcnt)
	}
	tail := buf[n-ndbBlobTail:]
	if le32(tail[8:]) != ndbBlobEMagic || uint64(le32(tail[4:])) != length {
		return nil, fmt.Errorf("%w: package %d: bad blob trailer", errNDB, sl.pkgidx)
	}
	if adler32.Checksum(buf[:n-ndbBlobTail]) != le32(tail) {
		return nil, fmt.Errorf("%w: package %d: checksum mismatch", errNDB, sl.pkgidx)
	}
	return buf[ndbBlobHead : ndbBlobHead+length], nil
}
