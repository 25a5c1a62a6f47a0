package deb

import (
	"fmt"
	"strings"

	debversion "github.com/knqyf263/go-deb-version"
)

// Version is a parsed Debian version. Ordering is go-deb-version's, which the
// differential test holds to `dpkg --compare-versions`.
type Version struct {
	Raw string
	v   debversion.Version
}

// maxDigits bounds a run of digits: go-deb-version compares numbers as ints,
// so a longer run would compare wrongly rather than fail.
const maxDigits = 18

// ParseVersion parses s, rejecting what Debian policy does not allow.
func ParseVersion(s string) (Version, error) {
	if s == "" {
		return Version{}, fmt.Errorf("empty version")
	}
	if strings.ContainsAny(s, " \t\n") {
		return Version{}, fmt.Errorf("version %q contains white space", s)
	}
	run := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return Version{}, fmt.Errorf("version %q contains non-ASCII characters", s)
		}
		if s[i] >= '0' && s[i] <= '9' {
			run++
			if run > maxDigits {
				return Version{}, fmt.Errorf("version %q has a number longer than %d digits", s, maxDigits)
			}
		} else {
			run = 0
		}
	}
	v, err := debversion.NewVersion(s)
	if err != nil {
		return Version{}, fmt.Errorf("version %q: %v", s, err)
	}
	return Version{Raw: s, v: v}, nil
}

// Compare returns <0, 0, >0 as a sorts before, equal to, after b.
func (a Version) Compare(b Version) int {
	c := a.v.Compare(b.v)
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}

func (a Version) String() string { return a.Raw }
