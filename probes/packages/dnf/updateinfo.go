package dnf

import (
	"encoding/xml"
	"fmt"
	"io"
)

// Fix is one package an advisory ships.
type Fix struct {
	Advisory, Name, Arch, EVR string
}

// parseUpdateinfo streams updateinfo.xml and returns the packages of
// security advisories whose names want accepts.
func parseUpdateinfo(r io.Reader, want func(string) bool) ([]Fix, error) {
	d := xml.NewDecoder(r)
	d.Strict = true
	var out []Fix
	depth, updDepth := 0, -1
	security := false
	id := ""
	var pending []Fix
	for {
		t, err := d.RawToken()
		if err == io.EOF {
			if depth != 0 {
				return nil, fmt.Errorf("truncated XML: %w", io.ErrUnexpectedEOF)
			}
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			depth++
			switch {
			case t.Name.Local == "update" && updDepth < 0:
				updDepth, id, pending = depth, "", pending[:0]
				security = attr(t, "type") == "security"
			case updDepth > 0 && depth == updDepth+1 && t.Name.Local == "id":
				s, err := readText(d)
				if err != nil {
					return nil, err
				}
				depth--
				id = s
			case updDepth > 0 && security && t.Name.Local == "package":
				name := attr(t, "name")
				if name != "" && want(name) {
					pending = append(pending, Fix{Name: name, Arch: attr(t, "arch"),
						EVR: evr(attr(t, "epoch"), attr(t, "version"), attr(t, "release"))})
				}
			}
		case xml.EndElement:
			if depth == updDepth && t.Name.Local == "update" {
				for _, f := range pending {
					f.Advisory = id
					out = append(out, f)
				}
				updDepth = -1
			}
			depth--
		}
	}
}
