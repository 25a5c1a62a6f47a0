package rpm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The sqlite rpmdb is read straight from the SQLite file format
// (https://www.sqlite.org/fileformat.html): rpm keeps one table,
// Packages(hnum INTEGER PRIMARY KEY, blob BLOB), whose rows are header
// blobs. Reading the B-tree needs no SQL engine, and no cgo.

var errSQLite = errors.New("corrupt sqlite database")

type sqliteFile struct {
	r        io.ReaderAt
	size     int64
	pageSize int
	usable   int
	visited  int
}

func openSQLite(r io.ReaderAt, size int64) (*sqliteFile, error) {
	var hdr [100]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return nil, fmt.Errorf("%w: short header", errSQLite)
	}
	if string(hdr[:16]) != "SQLite format 3\x00" {
		return nil, fmt.Errorf("%w: not an SQLite 3 file", errSQLite)
	}
	ps := int(binary.BigEndian.Uint16(hdr[16:18]))
	if ps == 1 {
		ps = 65536
	}
	if ps < 512 || ps&(ps-1) != 0 {
		return nil, fmt.Errorf("%w: page size %d", errSQLite, ps)
	}
	return &sqliteFile{r: r, size: size, pageSize: ps, usable: ps - int(hdr[20])}, nil
}

func (db *sqliteFile) page(n uint32) ([]byte, error) {
	if n == 0 || int64(n)*int64(db.pageSize) > db.size {
		return nil, fmt.Errorf("%w: page %d out of range", errSQLite, n)
	}
	// A corrupt file could make the walk loop; no real rpmdb has more
	// pages than the file holds.
	db.visited++
	if int64(db.visited) > db.size/int64(db.pageSize)+1 {
		return nil, fmt.Errorf("%w: page cycle", errSQLite)
	}
	buf := make([]byte, db.pageSize)
	if _, err := db.r.ReadAt(buf, int64(n-1)*int64(db.pageSize)); err != nil {
		return nil, fmt.Errorf("%w: page %d: %v", errSQLite, n, err)
	}
	return buf, nil
}

func varint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < 9 && i < len(b); i++ {
		if i == 8 {
			return v<<8 | uint64(b[i]), 9
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// walk calls fn with the payload of every row of the table B-tree at root.
func (db *sqliteFile) walk(root uint32, fn func(payload []byte) error) error {
	pg, err := db.page(root)
	if err != nil {
		return err
	}
	h := 0
	if root == 1 {
		h = 100
	}
	if len(pg) < h+12 {
		return fmt.Errorf("%w: short page", errSQLite)
	}
	kind := pg[h]
	cells := int(binary.BigEndian.Uint16(pg[h+3:]))
	ptrs := h + 8
	if kind == 0x05 {
		ptrs = h + 12
	} else if kind != 0x0d {
		return fmt.Errorf("%w: page %d is not a table page (type %#x)", errSQLite, root, kind)
	}
	if ptrs+2*cells > len(pg) {
		return fmt.Errorf("%w: page %d cell count %d", errSQLite, root, cells)
	}
	for i := 0; i < cells; i++ {
		off := int(binary.BigEndian.Uint16(pg[ptrs+2*i:]))
		if off < ptrs || off >= len(pg) {
			return fmt.Errorf("%w: page %d cell offset %d", errSQLite, root, off)
		}
		cell := pg[off:]
		if kind == 0x05 {
			if len(cell) < 4 {
				return fmt.Errorf("%w: short cell", errSQLite)
			}
			if err := db.walk(binary.BigEndian.Uint32(cell), fn); err != nil {
				return err
			}
			continue
		}
		size, n := varint(cell)
		if n == 0 {
			return fmt.Errorf("%w: bad varint", errSQLite)
		}
		cell = cell[n:]
		if _, n = varint(cell); n == 0 { // rowid
			return fmt.Errorf("%w: bad varint", errSQLite)
		}
		cell = cell[n:]
		payload, err := db.payload(cell, size)
		if err != nil {
			return err
		}
		if err := fn(payload); err != nil {
			return err
		}
	}
	if kind == 0x05 {
		return db.walk(binary.BigEndian.Uint32(pg[h+8:]), fn)
	}
	return nil
}

// payload assembles a cell's payload from the page and its overflow chain.
func (db *sqliteFile) payload(cell []byte, size uint64) ([]byte, error) {
	u := uint64(db.usable)
	if size > uint64(db.size) {
		// A payload cannot be larger than the file that holds it.
		return nil, fmt.Errorf("%w: payload of %d bytes in a %d-byte file", errSQLite, size, db.size)
	}
	x := u - 35
	local := size
	if size > x {
		m := ((u-12)*32/255 - 23)
		k := m + (size-m)%(u-4)
		local = m
		if k <= x {
			local = k
		}
	}
	if uint64(len(cell)) < local {
		return nil, fmt.Errorf("%w: cell overruns its page", errSQLite)
	}
	out := make([]byte, 0, size)
	out = append(out, cell[:local]...)
	if local == size {
		return out, nil
	}
	if uint64(len(cell)) < local+4 {
		return nil, fmt.Errorf("%w: missing overflow pointer", errSQLite)
	}
	next := binary.BigEndian.Uint32(cell[local:])
	for uint64(len(out)) < size {
		pg, err := db.page(next)
		if err != nil {
			return nil, err
		}
		next = binary.BigEndian.Uint32(pg)
		n := min(size-uint64(len(out)), u-4)
		out = append(out, pg[4:4+n]...)
	}
	return out, nil
}

// record decodes an SQLite record into its columns (integers as int64,
// text as string, blobs as []byte, NULL as nil).
func record(p []byte) ([]any, error) {
	hs, n := varint(p)
	if n == 0 || hs > uint64(len(p)) {
		return nil, fmt.Errorf("%w: bad record header", errSQLite)
	}
	var types []uint64
	for i := n; i < int(hs); {
		t, k := varint(p[i:])
		if k == 0 {
			return nil, fmt.Errorf("%w: bad record header", errSQLite)
		}
		types = append(types, t)
		i += k
	}
	body := p[hs:]
	var cols []any
	for _, t := range types {
		var l uint64
		switch {
		case t == 0 || t == 8 || t == 9:
			cols = append(cols, map[uint64]any{0: nil, 8: int64(0), 9: int64(1)}[t])
			continue
		case t <= 6:
			l = []uint64{0, 1, 2, 3, 4, 6, 8}[t]
		case t == 7:
			l = 8
		case t >= 12:
			l = (t - 12) / 2
		default:
			return nil, fmt.Errorf("%w: serial type %d", errSQLite, t)
		}
		if l > uint64(len(body)) {
			return nil, fmt.Errorf("%w: record overruns its payload", errSQLite)
		}
		v := body[:l]
		body = body[l:]
		switch {
		case t <= 6:
			var x int64
			for _, c := range v {
				x = x<<8 | int64(c)
			}
			if len(v) > 0 && v[0]&0x80 != 0 && len(v) < 8 {
				x -= 1 << (8 * len(v))
			}
			cols = append(cols, x)
		case t == 7:
			cols = append(cols, nil) // a REAL; rpm's schema has none
		case t%2 == 0:
			cols = append(cols, v)
		default:
			cols = append(cols, string(v))
		}
	}
	return cols, nil
}

// sqlitePackages returns the header blobs of rpm's Packages table.
func sqlitePackages(r io.ReaderAt, size int64) ([][]byte, error) {
	db, err := openSQLite(r, size)
	if err != nil {
		return nil, err
	}
	var root uint32
	err = db.walk(1, func(p []byte) error {
		cols, err := record(p)
		if err != nil {
			return err
		}
		// sqlite_schema: type, name, tbl_name, rootpage, sql
		if len(cols) >= 4 {
			typ, _ := cols[0].(string)
			name, _ := cols[1].(string)
			rp, _ := cols[3].(int64)
			if typ == "table" && strings.EqualFold(name, "Packages") {
				root = uint32(rp)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if root == 0 {
		return nil, fmt.Errorf("%w: no Packages table", errSQLite)
	}
	db.visited = 0
	var blobs [][]byte
	err = db.walk(root, func(p []byte) error {
		cols, err := record(p)
		if err != nil {
			return err
		}
		for _, c := range cols {
			if b, ok := c.([]byte); ok && len(b) > 8 {
				blobs = append(blobs, b)
				return nil
			}
		}
		return fmt.Errorf("%w: Packages row without a header blob", errSQLite)
	})
	return blobs, err
}

// SQLiteTable calls fn with every row of the named table of an SQLite
// database (yum keeps primary.sqlite this way), together with the table's
// column names from its CREATE TABLE statement, so callers need not rely on
// column order. An INTEGER PRIMARY KEY column reads as nil: SQLite stores it
// as the row id.
func SQLiteTable(r io.ReaderAt, size int64, table string, fn func(columns []string, row []any) error) error {
	db, err := openSQLite(r, size)
	if err != nil {
		return err
	}
	var root uint32
	var sql string
	err = db.walk(1, func(p []byte) error {
		cols, err := record(p)
		if err != nil {
			return err
		}
		if len(cols) >= 5 {
			typ, _ := cols[0].(string)
			name, _ := cols[1].(string)
			rp, _ := cols[3].(int64)
			if typ == "table" && strings.EqualFold(name, table) {
				root = uint32(rp)
				sql, _ = cols[4].(string)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if root == 0 {
		return fmt.Errorf("%w: no %s table", errSQLite, table)
	}
	names := columnNames(sql)
	db.visited = 0
	return db.walk(root, func(p []byte) error {
		cols, err := record(p)
		if err != nil {
			return err
		}
		return fn(names, cols)
	})
}

// columnNames takes the column names from "CREATE TABLE t (a TYPE, b TYPE, ...)";
// table constraints (PRIMARY KEY(...), UNIQUE ...) are not columns.
func columnNames(sql string) []string {
	open, end := strings.IndexByte(sql, '('), strings.LastIndexByte(sql, ')')
	if open < 0 || end < open {
		return nil
	}
	var names []string
	depth, start := 0, open+1
	body := sql[:end]
	for i := open + 1; i <= len(body); i++ {
		if i < len(body) {
			switch body[i] {
			case '(':
				depth++
				continue
			case ')':
				depth--
				continue
			case ',':
				if depth > 0 {
					continue
				}
			default:
				continue
			}
		}
		f := strings.Fields(body[start:i])
		start = i + 1
		if len(f) == 0 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "CONSTRAINT":
			continue
		}
		names = append(names, strings.Trim(f[0], "\"`[]"))
	}
	return names
}
