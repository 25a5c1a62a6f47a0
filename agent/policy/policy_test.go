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
