// Package apk reads Alpine's installed-package database, /lib/apk/db/installed.
package apk

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Path is where apk keeps the installed database.
const Path = "/lib/apk/db/installed"

// Package is one installed package.
type Package struct {
	Name, Version, Arch, Origin string
}

// ErrSyntax marks a malformed database.
var ErrSyntax = errors.New("malformed apk database")

// Parse reads the "P:name / V:version" records of an installed database.
// Records are separated by blank lines; every record needs P and V.
func Parse(r io.Reader) ([]Package, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var out []Package
	var cur Package
	start, n := 0, 0
	flush := func() error {
		if cur == (Package{}) {
			return nil
		}
		if cur.Name == "" || cur.Version == "" {
			return fmt.Errorf("line %d: %w: record without P: or V:", start, ErrSyntax)
		}
		if cur.Origin == "" {
			cur.Origin = cur.Name
		}
		out = append(out, cur)
		cur = Package{}
		return nil
	}
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		if len(line) < 2 || line[1] != ':' {
			return nil, fmt.Errorf("line %d: %w: %q is not a \"X:value\" line", n, ErrSyntax, clip(line))
		}
		if cur == (Package{}) {
			start = n
		}
		v := string(line[2:])
		switch line[0] {
		case 'P':
			cur.Name = v
		case 'V':
			cur.Version = v
		case 'A':
			cur.Arch = v
		case 'o':
			cur.Origin = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

func clip(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "..."
	}
	return string(b)
}
