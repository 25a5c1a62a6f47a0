// Package osvtest writes synthetic OSV bundles of realistic size for
// benchmarks: records shaped as the Debian, Alpine, Go and PyPI exports of
// vulnerability databases, a few of them naming packages the host has.
package osvtest

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// Record is one synthetic advisory, with the fields real exports carry
// (summary, details, references, severity), so decoding costs what it does
// on a real bundle.
type record struct {
	SchemaVersion    string         `json:"schema_version"`
	ID               string         `json:"id"`
	Modified         string         `json:"modified"`
	Published        string         `json:"published"`
	Aliases          []string       `json:"aliases,omitempty"`
	Upstream         []string       `json:"upstream,omitempty"`
	Summary          string         `json:"summary"`
	Details          string         `json:"details"`
	Affected         []affected     `json:"affected"`
	References       []reference    `json:"references"`
	DatabaseSpecific map[string]any `json:"database_specific,omitempty"`
}

type affected struct {
	Package          map[string]string `json:"package"`
	Ranges           []rng             `json:"ranges"`
	Versions         []string          `json:"versions,omitempty"`
	EcosystemSpecfic map[string]any    `json:"ecosystem_specific,omitempty"`
}

type rng struct {
	Type   string              `json:"type"`
	Events []map[string]string `json:"events"`
}

type reference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

var words = strings.Fields(`a an the buffer overflow in function when parsing crafted input allows remote
attackers to cause denial of service memory corruption or possibly execute arbitrary code via vectors
related to handling of certain length fields heap use after free out of bounds read write integer
signed unsigned conversion race condition privilege escalation container escape file descriptor leak`)

func text(r *rand.Rand, n int) string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.String()
}

// Record returns the i-th record of a bundle whose hits name the host's
// packages: every 50th record names one of debianNames (an installed Debian
// source package); the rest name packages no host has.
func Record(i int, debianNames []string) any {
	r := rand.New(rand.NewPCG(uint64(i), 42))
	cve := fmt.Sprintf("CVE-20%02d-%05d", 10+i%15, i)
	rec := record{SchemaVersion: "1.6.0", Modified: "2025-01-02T03:04:05Z", Published: "2024-01-02T03:04:05Z",
		Summary: text(r, 60+r.IntN(60)), Details: text(r, 300+r.IntN(1500))}
	for j := range 2 + r.IntN(6) {
		rec.References = append(rec.References, reference{Type: "WEB", URL: fmt.Sprintf("https://example.org/advisories/%s/%d", cve, j)})
	}
	events := func(fixed string) []rng {
		return []rng{{Type: "ECOSYSTEM", Events: []map[string]string{{"introduced": "0"}, {"fixed": fixed}}}}
	}
	switch k := i % 4; {
	case i%50 == 0 && len(debianNames) > 0:
		name := debianNames[(i/50)%len(debianNames)]
		rec.ID, rec.Upstream = fmt.Sprintf("DEBIAN-%s", cve), []string{cve}
		// Below any real version half of the time: a match, and a miss.
		fixed := "0.0.1-1"
		if i%100 == 0 {
			fixed = "999:1"
		}
		rec.Affected = []affected{{Package: map[string]string{"ecosystem": "Debian:12", "name": name}, Ranges: events(fixed)}}
	case k == 0:
		rec.ID, rec.Upstream = fmt.Sprintf("DEBIAN-%s", cve), []string{cve}
		for _, rel := range []string{"11", "12", "13"} {
			rec.Affected = append(rec.Affected, affected{Package: map[string]string{"ecosystem": "Debian:" + rel, "name": fmt.Sprintf("synthetic-src-%d", i)},
				Ranges: events(fmt.Sprintf("1.%d-1+deb%su1", i%40, rel))})
		}
	case k == 1:
		rec.ID, rec.Aliases = fmt.Sprintf("ALPINE-%s", cve), []string{cve}
		rec.Affected = []affected{{Package: map[string]string{"ecosystem": "Alpine:v3.19", "name": fmt.Sprintf("synthetic-apk-%d", i)}, Ranges: events("1.2.3-r4")}}
	case k == 2:
		rec.ID, rec.Aliases = fmt.Sprintf("GO-2024-%05d", i), []string{cve, fmt.Sprintf("GHSA-%04x-%04x-%04x", i, i*7%65536, i*13%65536)}
		mod := fmt.Sprintf("github.com/synthetic/module%d", i)
		rec.Affected = []affected{{Package: map[string]string{"ecosystem": "Go", "name": mod},
			Ranges:           []rng{{Type: "SEMVER", Events: []map[string]string{{"introduced": "0"}, {"fixed": "1.4.2"}}}},
			EcosystemSpecfic: map[string]any{"imports": []map[string]any{{"path": mod + "/pkg", "symbols": []string{"Parse", "Decode", "Reader.Read"}}}}}}
		rec.DatabaseSpecific = map[string]any{"url": "https://example.org/vuln/" + rec.ID, "review_status": "REVIEWED"}
	default:
		rec.ID, rec.Aliases = fmt.Sprintf("PYSEC-2024-%d", i), []string{cve}
		rec.Affected = []affected{{Package: map[string]string{"ecosystem": "PyPI", "name": fmt.Sprintf("synthetic-py-%d", i)}, Ranges: events("2.0.1"),
			Versions: []string{"1.0.0", "1.0.1", "1.1.0", "1.2.0", "2.0.0"}}}
	}
	return rec
}

// WriteDir writes n records, one file each, into dir.
func WriteDir(dir string, n int, debianNames []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := range n {
		data, err := json.Marshal(Record(i, debianNames))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("REC-%06d.json", i)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// WriteZip writes n records as one zip archive, one entry each, as
// per-ecosystem exports are laid out.
func WriteZip(file string, n int, debianNames []string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for i := range n {
		w, err := zw.Create(fmt.Sprintf("REC-%06d.json", i))
		if err != nil {
			return err
		}
		if err := json.NewEncoder(w).Encode(Record(i, debianNames)); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// DebianSources lists the source package names in a dpkg status file.
func DebianSources(status io.Reader) []string {
	data, _ := io.ReadAll(status)
	seen := map[string]bool{}
	var out []string
	for _, stanza := range strings.Split(string(data), "\n\n") {
		name, src := "", ""
		for _, l := range strings.Split(stanza, "\n") {
			if v, ok := strings.CutPrefix(l, "Package: "); ok {
				name = v
			}
			if v, ok := strings.CutPrefix(l, "Source: "); ok {
				src, _, _ = strings.Cut(v, " ")
			}
		}
		if src == "" {
			src = name
		}
		if src != "" && !seen[src] {
			seen[src] = true
			out = append(out, src)
		}
	}
	return out
}
