package deb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/pierrec/lz4/v4"
)

// lz4Frames reads the LZ4 frame format (what apt stores as .lz4) with
// pierrec/lz4's block decoder. lz4.Reader re-allocates its 64 KiB history
// for every block of a linked-block frame, which made decompression half
// of a scan; here blocks decode into one sliding window and the history is
// simply the bytes before the write position.
//
// Header and content checksums are not verified (the list's hash was
// checked by apt when it was stored); truncation is detected because a
// frame must end with its end mark.
type lz4Frames struct {
	r           io.Reader
	buf         []byte
	rd, wr      int
	blockMax    int
	independent bool
	blockSum    bool
	contentSum  bool
	inFrame     bool
	frames      int
	src         []byte
	word        [8]byte
}

const (
	lz4Magic      = 0x184D2204
	lz4History    = 64 << 10
	lz4SkipMagic  = 0x184D2A50
	lz4SkipMask   = 0xFFFFFFF0
	lz4MaxBlockSz = 4 << 20
)

var errLZ4 = errors.New("corrupt lz4 data")

func newLZ4Frames(r io.Reader) *lz4Frames { return &lz4Frames{r: r} }

func (z *lz4Frames) Read(p []byte) (int, error) {
	for z.rd == z.wr {
		if err := z.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, z.buf[z.rd:z.wr])
	z.rd += n
	return n, nil
}

func (z *lz4Frames) u32() (uint32, error) {
	if _, err := io.ReadFull(z.r, z.word[:4]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(z.word[:4]), nil
}

func (z *lz4Frames) header() error {
	magic, err := z.u32()
	if err == io.EOF && z.frames > 0 {
		return io.EOF
	}
	if err != nil {
		return fmt.Errorf("%w: truncated frame header", errLZ4)
	}
	if magic&lz4SkipMask == lz4SkipMagic {
		n, err := z.u32()
		if err != nil {
			return fmt.Errorf("%w: truncated skippable frame", errLZ4)
		}
		if _, err := io.CopyN(io.Discard, z.r, int64(n)); err != nil {
			return fmt.Errorf("%w: truncated skippable frame", errLZ4)
		}
		z.frames++
		return nil
	}
	if magic != lz4Magic {
		return fmt.Errorf("%w: not an lz4 frame (magic %#x)", errLZ4, magic)
	}
	if _, err := io.ReadFull(z.r, z.word[:2]); err != nil {
		return fmt.Errorf("%w: truncated frame header", errLZ4)
	}
	flg, bd := z.word[0], z.word[1]
	if flg>>6 != 1 {
		return fmt.Errorf("%w: unsupported frame version %d", errLZ4, flg>>6)
	}
	z.independent = flg&0x20 != 0
	z.blockSum = flg&0x10 != 0
	z.contentSum = flg&0x04 != 0
	extra := 1 // header checksum
	if flg&0x08 != 0 {
		extra += 8 // content size
	}
	if flg&0x01 != 0 {
		extra += 4 // dictionary id
	}
	if _, err := io.CopyN(io.Discard, z.r, int64(extra)); err != nil {
		return fmt.Errorf("%w: truncated frame header", errLZ4)
	}
	switch (bd >> 4) & 7 {
	case 4:
		z.blockMax = 64 << 10
	case 5:
		z.blockMax = 256 << 10
	case 6:
		z.blockMax = 1 << 20
	case 7:
		z.blockMax = 4 << 20
	default:
		return fmt.Errorf("%w: invalid block size code %d", errLZ4, (bd>>4)&7)
	}
	if need := lz4History + 2*z.blockMax; len(z.buf) < need {
		z.buf = make([]byte, need)
	}
	// A new frame starts without history.
	z.rd, z.wr = 0, 0
	z.inFrame = true
	z.frames++
	return nil
}

func (z *lz4Frames) next() error {
	if !z.inFrame {
		return z.header()
	}
	size, err := z.u32()
	if err != nil {
		return fmt.Errorf("%w: truncated (no end mark)", errLZ4)
	}
	if size == 0 {
		if z.contentSum {
			if _, err := io.ReadFull(z.r, z.word[:4]); err != nil {
				return fmt.Errorf("%w: truncated content checksum", errLZ4)
			}
		}
		z.inFrame = false
		return nil
	}
	raw := size&0x80000000 != 0
	size &= 0x7FFFFFFF
	if int(size) > z.blockMax {
		return fmt.Errorf("%w: block of %d bytes exceeds the frame's %d", errLZ4, size, z.blockMax)
	}
	if cap(z.src) < int(size) {
		z.src = make([]byte, z.blockMax)
	}
	src := z.src[:size]
	if _, err := io.ReadFull(z.r, src); err != nil {
		return fmt.Errorf("%w: truncated block", errLZ4)
	}
	if z.blockSum {
		if _, err := io.ReadFull(z.r, z.word[:4]); err != nil {
			return fmt.Errorf("%w: truncated block checksum", errLZ4)
		}
	}
	if z.wr+z.blockMax > len(z.buf) {
		// Slide: keep the last 64 KiB as history for linked blocks.
		keep := min(z.wr, lz4History)
		copy(z.buf, z.buf[z.wr-keep:z.wr])
		z.wr = keep
	}
	z.rd = z.wr
	dst := z.buf[z.wr : z.wr+z.blockMax]
	var n int
	if raw {
		n = copy(dst, src)
	} else {
		var dict []byte
		if !z.independent {
			dict = z.buf[max(0, z.wr-lz4History):z.wr]
		}
		if n, err = lz4.UncompressBlockWithDict(src, dst, dict); err != nil {
			return fmt.Errorf("%w: %v", errLZ4, err)
		}
	}
	z.wr += n
	return nil
}
