package finding

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

func TestEvidenceSetKeepsKeyOrder(t *testing.T) {
	var e Evidence
	for _, kv := range [][2]string{{"port", "22"}, {"address", "0.0.0.0"}, {"process", "sshd"}, {"pid", "1"}, {"port", "2222"}, {"zone", ""}, {"address", "::"}} {
		e.Set(kv[0], kv[1])
	}
	want := Evidence{{"address", "::"}, {"pid", "1"}, {"port", "2222"}, {"process", "sshd"}, {"zone", ""}}
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("got %v, want %v", e, want)
	}
	if v, ok := e.Lookup("zone"); !ok || v != "" {
		t.Fatalf("Lookup(zone) = %q, %v; want the empty text, present", v, ok)
	}
	if v, ok := e.Lookup("user"); ok || v != "" || e.Get("user") != "" {
		t.Fatalf("Lookup(user) = %q, %v; want absent", v, ok)
	}
	if e.Get("port") != "2222" {
		t.Fatalf("Get(port) = %q", e.Get("port"))
	}
}

// TestEvidenceSetDoesNotWriteIntoItsNeighbour: the ports probe hands each
// finding a full slice of one shared array; a later Set on one must not
// change the next finding's evidence.
func TestEvidenceSetDoesNotWriteIntoItsNeighbour(t *testing.T) {
	shared := []Field{{"a", "1"}, {"c", "3"}, {"a", "x"}, {"c", "y"}}
	first, second := Evidence(shared[0:2:2]), Evidence(shared[2:4:4])
	first.Set("b", "2")
	first.Set("d", "4")
	if !reflect.DeepEqual(second, Evidence{{"a", "x"}, {"c", "y"}}) {
		t.Fatalf("the neighbour changed: %v", second)
	}
	if !reflect.DeepEqual(first, Evidence{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}}) {
		t.Fatalf("got %v", first)
	}
}

func TestEvidenceSorted(t *testing.T) {
	ordered := EvidenceOf(map[string]string{"b": "2", "a": "1"})
	if got := ordered.Sorted(); &got[0] != &ordered[0] {
		t.Fatal("Sorted copied evidence that was already in order")
	}
	messy := Evidence{{"b", "2"}, {"a", "1"}, {"b", "3"}}
	if got, want := messy.Sorted(), (Evidence{{"a", "1"}, {"b", "3"}}); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v (order, each key once, the last text)", got, want)
	}
}

// TestEvidenceJSONIsAMapsJSON holds the JSON report's evidence object to
// what encoding/json writes for the map it was before, escaping included,
// with and without HTML escaping.
func TestEvidenceJSONIsAMapsJSON(t *testing.T) {
	m := map[string]string{
		"message": `a "quoted" <tag> & \ back` + "\n\t\u2028 é \x01",
		"a":       "",
		"ünïcode": "ok",
		"Z":       "upper case sorts first",
	}
	for _, escapeHTML := range []bool{true, false} {
		encode := func(v any) string {
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(escapeHTML)
			if err := enc.Encode(v); err != nil {
				t.Fatal(err)
			}
			return b.String()
		}
		if got, want := encode(EvidenceOf(m)), encode(m); got != want {
			t.Errorf("escapeHTML %v:\ngot  %s\nwant %s", escapeHTML, got, want)
		}
		if got, want := encode(Finding{Evidence: Evidence{{"b", "2"}, {"a", "1"}}}), encode(struct {
			Finding
			Evidence map[string]string `json:"evidence"`
		}{Evidence: map[string]string{"b": "2", "a": "1"}}); got != want {
			t.Errorf("out of order:\ngot  %s\nwant %s", got, want)
		}
	}
	for _, empty := range []Evidence{nil, {}} {
		if b, err := json.Marshal(empty); err != nil || string(b) != "{}" {
			t.Errorf("%#v as JSON: %s, %v; want {}", empty, b, err)
		}
	}
	var back Evidence
	if err := json.Unmarshal([]byte(`{"b":"2","a":"1","c":""}`), &back); err != nil {
		t.Fatal(err)
	}
	if want := (Evidence{{"a", "1"}, {"b", "2"}, {"c", ""}}); !reflect.DeepEqual(back, want) {
		t.Fatalf("decoded %v, want %v", back, want)
	}
	if err := json.Unmarshal([]byte(`{"a":1}`), &back); err == nil {
		t.Fatal("want an error for a number")
	}
}
