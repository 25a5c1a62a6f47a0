package policy

import (
	"errors"
	"strings"
	"testing"
)

type testSection struct {
	Limit int      `json:"limit"`
	Names []string `json:"names"`
}

func (s *testSection) Validate() error {
	if s.Limit < 0 {
		return errors.New("limit must not be negative")
	}
	return nil
}

func init() {
	Register("zz-test", []byte("limit: 3\nnames: [a]\n"), func() any { return new(testSection) })
}

func TestOverrideFieldByField(t *testing.T) {
	p, err := Parse([]byte("zz-test:\n  names: [b, c]\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := Section[testSection](p, "zz-test")
	if s.Limit != 3 || strings.Join(s.Names, ",") != "b,c" {
		t.Fatalf("merged section %+v", s)
	}
	if d := Section[testSection](Default(), "zz-test"); strings.Join(d.Names, ",") != "a" {
		t.Fatalf("defaults changed by a parse: %+v", d)
	}
}

func TestStrictErrorsNameTheProblem(t *testing.T) {
	for doc, want := range map[string]string{
		"zz-test: {limt: 1}":     `t.yaml: section zz-test: unknown field "limt"`,
		"zz-tset: {}":            `unknown section "zz-tset"`,
		"zz-test: {limit: -1}":   "limit must not be negative",
		"zz-test: {limit: many}": "zz-test",
		"- a\n- b":               "t.yaml",
	} {
		_, err := Parse([]byte(doc), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", doc, err, want)
		}
	}
}

func TestEmptyDocumentIsDefaults(t *testing.T) {
	for _, doc := range []string{"", "\n# nothing\n", "zz-test:\n"} {
		p, err := Parse([]byte(doc), "t.yaml")
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if Section[testSection](p, "zz-test").Limit != 3 {
			t.Fatalf("%q did not keep defaults", doc)
		}
	}
}

// TestBuiltInDefaults decodes and validates every registered section's
// defaults, which Register leaves to first use.
func TestBuiltInDefaults(t *testing.T) {
	if _, err := Parse(nil, "built-in defaults"); err != nil {
		t.Fatal(err)
	}
	p := Default()
	if a, b := Section[testSection](p, "zz-test"), Section[testSection](p, "zz-test"); a != b || a.Limit != 3 {
		t.Fatalf("Section: %p %p %+v", a, b, a)
	}
}

func TestBrokenDefaultsPanicOnUse(t *testing.T) {
	Register("zz-broken", []byte("limit: [not a number]\n"), func() any { return new(testSection) })
	defer func() {
		mu.Lock()
		delete(sections, "zz-broken")
		mu.Unlock()
	}()
	if _, err := Parse(nil, "x"); err == nil || !strings.Contains(err.Error(), "zz-broken") {
		t.Fatalf("Parse: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Section of a broken default did not panic")
		}
	}()
	Section[testSection](Default(), "zz-broken")
}
