package finding

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
)

// Evidence is what a check saw, as text under keys: the JSON report's
// "evidence" object. It is a short list kept in key order, not a map: a
// finding holds a handful of keys, and a scan of 10,000 listeners builds and
// writes 10,000 of them, where a map costs a hash table each and its keys
// must be sorted again for every output.
//
// Set keeps the order; a literal must list its keys in order, once each
// (TestFindingsGolden holds every probe's findings on every fixture host to
// that). Writers that need the order still check it: see Sorted.
type Evidence []Field

// Field is one key of Evidence and its text.
type Field struct {
	Key, Value string
}

// EvidenceOf is m as Evidence.
func EvidenceOf(m map[string]string) Evidence {
	e := make(Evidence, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		e = append(e, Field{k, m[k]})
	}
	return e
}

// Get returns the text under key, or "".
func (e Evidence) Get(key string) string {
	v, _ := e.Lookup(key)
	return v
}

// Lookup returns the text under key and whether key is there.
func (e Evidence) Lookup(key string) (string, bool) {
	for _, f := range e {
		if f.Key == key {
			return f.Value, true
		}
	}
	return "", false
}

// Set puts value under key, in key order.
func (e *Evidence) Set(key, value string) {
	s := *e
	i := len(s)
	for i > 0 && s[i-1].Key >= key {
		i--
	}
	if i < len(s) && s[i].Key == key {
		s[i].Value = value
		return
	}
	*e = slices.Insert(s, i, Field{key, value})
}

// Map is e as a map.
func (e Evidence) Map() map[string]string {
	m := make(map[string]string, len(e))
	for _, f := range e {
		m[f.Key] = f.Value
	}
	return m
}

// Sorted is e in key order with each key once (the last text wins, as in a
// map): e itself when it already is, which is the rule.
func (e Evidence) Sorted() Evidence {
	ordered := true
	for i := 1; i < len(e) && ordered; i++ {
		ordered = e[i-1].Key < e[i].Key
	}
	if ordered {
		return e
	}
	return EvidenceOf(e.Map())
}

// MarshalJSON writes e as a JSON object, keys in order: {} when e is empty.
// Its strings are not HTML-escaped here: the encoder that calls it escapes
// them as it is set to, as it would a map's.
func (e Evidence) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	b.WriteByte('{')
	for i, f := range e.Sorted() {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, s := range []string{f.Key, f.Value} {
			if err := enc.Encode(s); err != nil {
				return nil, err
			}
			b.Truncate(b.Len() - 1) // Encode ends with a newline
			if j == 0 {
				b.WriteByte(':')
			}
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads a JSON object of strings.
func (e *Evidence) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*e = EvidenceOf(m)
	return nil
}
