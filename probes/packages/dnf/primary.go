package dnf

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/packages/deb"
	"github.com/nodeguard/nodeguard/probes/packages/rpm"
)

// Available is one package of a repo.
type Available struct {
	Name, Arch, EVR, Repo string
}

// evr joins epoch, version and release; epoch 0 is left out, as rpm does.
func evr(epoch, version, release string) string {
	s := version + "-" + release
	if epoch != "" && strings.TrimLeft(epoch, "0") != "" {
		s = epoch + ":" + s
	}
	return s
}

// openMetadata opens a cached metadata file, decompressed by its suffix.
func openMetadata(root *hostfs.Root, p string) (io.Reader, func(), error) {
	f, err := root.Open(p)
	if err != nil {
		return nil, nil, err
	}
	r, closeDec, err := deb.Decompress(p, f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", p, err)
	}
	return r, func() { closeDec(); f.Close() }, nil
}

// maxText bounds the text of one name, arch or id element.
const maxText = 64 << 10

// readText returns an element's character data (it has no children).
func readText(d *xml.Decoder) (string, error) {
	var b strings.Builder
	for {
		t, err := d.RawToken()
		if err != nil {
			return "", err
		}
		switch t := t.(type) {
		case xml.CharData:
			if b.Len()+len(t) > maxText {
				return "", fmt.Errorf("element text longer than %d bytes", maxText)
			}
			b.Write(t)
		case xml.EndElement:
			return strings.TrimSpace(b.String()), nil
		case xml.StartElement:
			return "", fmt.Errorf("unexpected element <%s> in text", t.Name.Local)
		}
	}
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// parsePrimaryXML streams primary.xml token by token and keeps the
// packages whose name want accepts: a distribution's primary lists tens of
// thousands of packages with their whole dependency and file lists.
func parsePrimaryXML(r io.Reader, repo string, want func(string) bool, fn func(Available)) error {
	d := xml.NewDecoder(newFormatSkipper(r))
	d.Strict = true
	depth, pkgDepth := 0, -1
	var cur Available
	for {
		t, err := d.RawToken()
		if err == io.EOF {
			if depth != 0 {
				return fmt.Errorf("truncated XML: %w", io.ErrUnexpectedEOF)
			}
			return nil
		}
		if err != nil {
			return err
		}
		switch t := t.(type) {
		case xml.StartElement:
			depth++
			if t.Name.Space != "" {
				continue
			}
			switch {
			case t.Name.Local == "package" && pkgDepth < 0:
				pkgDepth, cur = depth, Available{Repo: repo}
				if typ := attr(t, "type"); typ != "" && typ != "rpm" {
					pkgDepth = -2 // not an rpm: skipped below
				}
			case depth == pkgDepth+1 && (t.Name.Local == "name" || t.Name.Local == "arch"):
				s, err := readText(d)
				if err != nil {
					return err
				}
				depth--
				if t.Name.Local == "name" {
					cur.Name = s
				} else {
					cur.Arch = s
				}
			case depth == pkgDepth+1 && t.Name.Local == "version":
				cur.EVR = evr(attr(t, "epoch"), attr(t, "ver"), attr(t, "rel"))
			}
		case xml.EndElement:
			if depth == pkgDepth && t.Name.Local == "package" {
				if cur.Name == "" || cur.EVR == "" || cur.Arch == "" {
					return fmt.Errorf("line %d: package without name, version or arch", lineOf(d))
				}
				if cur.Arch != "src" && cur.Arch != "nosrc" && want(cur.Name) {
					fn(cur)
				}
				pkgDepth = -1
			}
			depth--
			if pkgDepth == -2 && depth == 0 {
				pkgDepth = -1
			}
		}
	}
}

func lineOf(d *xml.Decoder) int {
	l, _ := d.InputPos()
	return l
}

// maxSQLite bounds a compressed primary.sqlite decompressed in memory; yum
// normally leaves a decompressed copy, which is read in place.
const maxSQLite = 96 << 20

// parsePrimarySQLite reads the packages table of a primary.sqlite.
func parsePrimarySQLite(root *hostfs.Root, p, repo string, want func(string) bool, fn func(Available)) error {
	var ra io.ReaderAt
	var size int64
	if stripCompression(p) == p {
		f, err := root.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		ra, size = f, fi.Size()
	} else {
		r, done, err := openMetadata(root, p)
		if err != nil {
			return err
		}
		defer done()
		data, err := io.ReadAll(io.LimitReader(r, maxSQLite+1))
		if err != nil {
			return err
		}
		if len(data) > maxSQLite {
			return fmt.Errorf("decompressed database larger than %d MiB and no decompressed copy in the cache", maxSQLite>>20)
		}
		ra, size = bytes.NewReader(data), int64(len(data))
	}
	var idx map[string]int
	err := rpm.SQLiteTable(ra, size, "packages", func(columns []string, row []any) error {
		if idx == nil {
			idx = map[string]int{}
			for i, c := range columns {
				idx[strings.ToLower(c)] = i
			}
			for _, k := range []string{"name", "arch", "epoch", "version", "release"} {
				if _, ok := idx[k]; !ok {
					return fmt.Errorf("packages table has no %s column", k)
				}
			}
		}
		get := func(k string) string {
			i := idx[k]
			if i >= len(row) {
				return ""
			}
			s, _ := row[i].(string)
			if b, ok := row[i].([]byte); ok {
				s = string(b)
			}
			return s
		}
		a := Available{Name: get("name"), Arch: get("arch"), EVR: evr(get("epoch"), get("version"), get("release")), Repo: repo}
		if a.Name == "" || get("version") == "" {
			return errors.New("package row without name or version")
		}
		if a.Arch != "src" && a.Arch != "nosrc" && want(a.Name) {
			fn(a)
		}
		return nil
	})
	return err
}
