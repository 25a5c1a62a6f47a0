package deb

import (
	"compress/bzip2"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Compressions are the list suffixes apt may store, in the order apt prefers
// them when several exist ("" is an uncompressed list).
var Compressions = []string{"", ".lz4", ".zst", ".gz", ".xz", ".bz2"}

// Decompress wraps r according to the file name's suffix. The returned close
// function releases decoder resources (zstd keeps goroutines).
func Decompress(name string, r io.Reader) (io.Reader, func(), error) {
	ext := ""
	if i := strings.LastIndexByte(name, '.'); i >= 0 && !strings.Contains(name[i:], "_") {
		ext = name[i:]
	}
	nop := func() {}
	switch ext {
	case "":
		return r, nop, nil
	case ".lz4":
		return newLZ4Frames(r), nop, nil
	case ".zst":
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, nop, fmt.Errorf("zstd: %w", err)
		}
		return d, d.Close, nil
	case ".gz":
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, nop, fmt.Errorf("gzip: %w", err)
		}
		return z, func() { z.Close() }, nil
	case ".xz":
		z, err := xz.NewReader(r)
		if err != nil {
			return nil, nop, fmt.Errorf("xz: %w", err)
		}
		return z, nop, nil
	case ".bz2":
		return bzip2.NewReader(r), nop, nil
	}
	return nil, nop, fmt.Errorf("unknown compression %q", ext)
}
