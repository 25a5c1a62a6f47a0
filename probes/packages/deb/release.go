package deb

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Release is the metadata apt keeps per repository from Release/InRelease,
// which pins match against.
type Release struct {
	Origin, Label, Suite, Codename, Version, Date string
	NotAutomatic, ButAutomaticUpgrades            bool
}

var releaseFields = []string{"Origin", "Label", "Suite", "Codename", "Version", "Date", "NotAutomatic", "ButAutomaticUpgrades"}

// ParseRelease reads a Release file or a clearsigned InRelease file. The
// signature is not verified: apt verified it when it stored the file, and
// the agent trusts the host's own apt state.
func ParseRelease(data []byte) (Release, error) {
	body := data
	if bytes.HasPrefix(bytes.TrimLeft(data, "\r\n"), []byte("-----BEGIN PGP SIGNED MESSAGE-----")) {
		start := bytes.Index(data, []byte("\n\n"))
		if start < 0 {
			if start = bytes.Index(data, []byte("\r\n\r\n")); start < 0 {
				return Release{}, fmt.Errorf("%w: clearsigned message without a body", ErrSyntax)
			}
		}
		body = data[start:]
		end := bytes.Index(body, []byte("\n-----BEGIN PGP SIGNATURE-----"))
		if end < 0 {
			return Release{}, fmt.Errorf("%w: clearsigned message without a signature (truncated?)", ErrSyntax)
		}
		body = body[:end]
	}
	sr := NewStanzaReader(bytes.NewReader(body), releaseFields, false)
	st, err := sr.Next()
	if err == io.EOF {
		return Release{}, fmt.Errorf("%w: no fields", ErrSyntax)
	}
	if err != nil {
		return Release{}, err
	}
	g := func(i int) string { return string(st.Get(i)) }
	r := Release{Origin: g(0), Label: g(1), Suite: g(2), Codename: g(3), Version: g(4), Date: g(5)}
	r.NotAutomatic = strings.EqualFold(g(6), "yes")
	// apt honours ButAutomaticUpgrades only together with NotAutomatic.
	r.ButAutomaticUpgrades = r.NotAutomatic && strings.EqualFold(g(7), "yes")
	if r.Suite == "" && r.Codename == "" && r.Origin == "" && r.Label == "" {
		return r, fmt.Errorf("%w: none of Origin, Label, Suite, Codename is set", ErrSyntax)
	}
	return r, nil
}
