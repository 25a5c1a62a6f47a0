package kubelet

import (
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// The kubelet's flags and defaults differ between versions; the tables of
// every supported version are generated from each version's own code
// (zz_generated_versions.go, integration/kubeletdefaults/versions.sh).

// flagSpec is one command-line flag of one kubelet version.
type flagSpec struct {
	Bool       bool // takes no value
	Shorthand  string
	Deprecated bool
}

// defaultsTable holds the defaults of the checked fields.
type defaultsTable struct {
	AnonymousAuth                  bool
	WebhookAuthn                   bool
	AuthorizationMode              string
	ReadOnlyPort                   int32
	EventRecordQPS                 int32
	StreamingConnectionIdleTimeout time.Duration
	PodPidsLimit                   int64
	MakeIPTablesUtilChains         bool
	SeccompDefault                 bool
	Address                        string
	Port                           int32
}

// versionTable is one kubelet version's flags and defaults.
type versionTable struct {
	Version string // the k8s.io/kubernetes release the table was generated from
	Flags   map[string]flagSpec
	// Config are the defaults with --config, Legacy those without.
	Config, Legacy       defaultsTable
	RotateServerCertGate bool // RotateKubeletServerCertificate's default
}

// JudgedVersion says which kubelet version the flags and defaults were judged
// against, and why.
type JudgedVersion struct {
	// Kubelet is the running kubelet's version ("v1.34.2"), empty when unknown.
	Kubelet string `json:"kubelet,omitempty"`
	// From says where Kubelet was learnt (the Node's status, an executable).
	From string `json:"from,omitempty"`
	// Table is the table used: a release ("v1.34.4") or "union of v1.31.14 to v1.37.2".
	Table string `json:"table"`
	// Union is true when the version is unknown or has no table of its own.
	Union bool `json:"union,omitempty"`
	// Note explains a union.
	Note string `json:"note,omitempty"`
}

// String is the one-line form findings and `kubelet effective` show.
func (j JudgedVersion) String() string {
	s := "kubelet " + j.Kubelet
	if j.Kubelet == "" {
		s = "kubelet version unknown"
	}
	if j.From != "" {
		s += " (from " + j.From + ")"
	}
	s += ", judged against the " + j.Table + " tables"
	if j.Note != "" {
		s += ": " + j.Note
	}
	return s
}

var kubeVersionRE = regexp.MustCompile(`^v?1\.(\d+)\.(\d+)`)

// minorOf returns the minor version of "v1.34.2", "v1.34.2-eks-1", "1.34.2+k3s1".
func minorOf(v string) (int, bool) {
	m := kubeVersionRE.FindStringSubmatch(v)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

// selectTable picks the table for a kubelet version: the one of the same
// minor version, else the union of all tables.
func selectTable(kubelet, from string) (*versionTable, JudgedVersion) {
	j := JudgedVersion{Kubelet: kubelet, From: from}
	if minor, ok := minorOf(kubelet); ok {
		for i := range generatedTables() {
			if m, _ := minorOf(generatedTables()[i].Version); m == minor {
				j.Table = generatedTables()[i].Version
				return &generatedTables()[i], j
			}
		}
		j.Note = fmt.Sprintf("nodeguard has no tables for v1.%d", minor)
	} else if kubelet == "" {
		j.Note = "the kubelet's version is unknown"
	} else {
		j.Note = fmt.Sprintf("%q is not a Kubernetes version", kubelet)
	}
	u := union()
	j.Table, j.Union = u.Version, true
	return u, j
}

// generatedTables are the kubelet versions' tables, built on first use.
var generatedTables = sync.OnceValue(buildTables)

var union = sync.OnceValue(func() *versionTable {
	first, last := generatedTables()[0], generatedTables()[len(generatedTables())-1]
	u := last // the newest defaults: they agree for every checked field (versions_test.go)
	u.Version = "union of " + first.Version + " to " + last.Version
	u.Flags = map[string]flagSpec{}
	for _, t := range generatedTables() {
		for name, f := range t.Flags {
			u.Flags[name] = f
		}
	}
	return &u
})

// flagVersions lists the releases whose tables have a flag.
func flagVersions(name string) []string {
	var out []string
	for _, t := range generatedTables() {
		if _, ok := t.Flags[name]; ok {
			out = append(out, t.Version)
		}
	}
	return out
}
