package release

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Minor is one Kubernetes minor release in the generated table.
type Minor struct {
	Minor int
	// Released is the x.y.0's date, YYYY-MM-DD.
	Released string
	// Newest is the newest patch release the table knows, NewestDate its date.
	Newest, NewestDate string
	// EndOfSupport is the last day of patch support.
	EndOfSupport string
	// Official is true when EndOfSupport is the Kubernetes release pages'
	// date, false when computed from the support policy.
	Official bool
}

// Basis says where EndOfSupport comes from.
func (m Minor) Basis() string {
	if m.Official {
		return "official"
	}
	return "computed from the support policy"
}

// NewestPatch is Newest's patch number.
func (m Minor) NewestPatch() int {
	v, _ := Parse(m.Newest)
	return v.Patch
}

// ended reports whether support ended before now (the whole last day counts).
func (m Minor) ended(now time.Time) bool {
	eol, err := time.Parse(time.DateOnly, m.EndOfSupport)
	return err == nil && now.After(eol.AddDate(0, 0, 1))
}

// Version is a Kubernetes version, v1.MINOR.PATCH.
type Version struct{ Minor, Patch int }

func (v Version) String() string { return fmt.Sprintf("v1.%d.%d", v.Minor, v.Patch) }

var versionRE = regexp.MustCompile(`^v?1\.(\d+)\.(\d+)`)

// Parse reads "v1.34.2", "1.34.2" and vendor forms such as "v1.34.2-eks-1"
// or "v1.34.2+k3s1" (judged as v1.34.2).
func Parse(s string) (Version, bool) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return Version{}, false
	}
	mi, err1 := strconv.Atoi(m[1])
	p, err2 := strconv.Atoi(m[2])
	return Version{mi, p}, err1 == nil && err2 == nil
}

// Table returns the generated table, oldest minor first.
func Table() []Minor { return table }

func lookup(minor int) (Minor, bool) {
	for _, m := range table {
		if m.Minor == minor {
			return m, true
		}
	}
	return Minor{}, false
}
