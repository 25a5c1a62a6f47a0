package release

import (
	"testing"
	"time"
)

// TestTableWellFormed keeps the generated table usable: minors consecutive
// and sorted, dates that parse and follow each other, and an end of support
// after the release.
func TestTableWellFormed(t *testing.T) {
	date, err := time.Parse(time.DateOnly, TableDate)
	if err != nil {
		t.Fatalf("TableDate %q: %v", TableDate, err)
	}
	if len(table) == 0 || table[0].Minor > 19 {
		t.Fatalf("the table must cover v1.19 onwards; starts at %+v", table)
	}
	day := func(m Minor, field, s string) time.Time {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Errorf("v1.%d %s %q: %v", m.Minor, field, s, err)
		}
		return d
	}
	for i, m := range table {
		if i > 0 && m.Minor != table[i-1].Minor+1 {
			t.Errorf("v1.%d follows v1.%d: minors must be consecutive and sorted", m.Minor, table[i-1].Minor)
		}
		v, ok := Parse(m.Newest)
		if !ok || v.Minor != m.Minor || v.String() != m.Newest {
			t.Errorf("v1.%d: newest patch %q is not one of its releases", m.Minor, m.Newest)
		}
		rel, newest, eol := day(m, "released", m.Released), day(m, "newest patch date", m.NewestDate), day(m, "end of support", m.EndOfSupport)
		if newest.Before(rel) || (v.Patch == 0) != newest.Equal(rel) {
			t.Errorf("v1.%d: newest patch %s of %s, released %s", m.Minor, m.Newest, m.NewestDate, m.Released)
		}
		if newest.After(date) || rel.After(date) {
			t.Errorf("v1.%d: dates after the table's own date %s", m.Minor, TableDate)
		}
		// The policy gives about 14 months; official dates have been 12 to 16.
		if months := eol.Sub(rel).Hours() / 24 / 30.4; months < 12 || months > 16.5 {
			t.Errorf("v1.%d: end of support %s is %.1f months after the release %s", m.Minor, m.EndOfSupport, months, m.Released)
		}
		if i > 0 {
			p := table[i-1]
			if !rel.After(day(p, "released", p.Released)) || eol.Before(day(p, "end of support", p.EndOfSupport)) {
				t.Errorf("v1.%d (released %s, end %s) must come after v1.%d (released %s, end %s)",
					m.Minor, m.Released, m.EndOfSupport, p.Minor, p.Released, p.EndOfSupport)
			}
			if m.Official && !p.Official {
				t.Errorf("v1.%d has an official end of support but the older v1.%d does not", m.Minor, p.Minor)
			}
		}
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]string{"v1.34.2": "v1.34.2", "1.34.2": "v1.34.2", "v1.34.2-eks-1": "v1.34.2", "v1.30.4+k3s1": "v1.30.4"} {
		if v, ok := Parse(in); !ok || v.String() != want {
			t.Errorf("Parse(%q) = %v, %v; want %s", in, v, ok, want)
		}
	}
	for _, in := range []string{"", "latest", "v2.0.0", "v1.34"} {
		if _, ok := Parse(in); ok {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
}
