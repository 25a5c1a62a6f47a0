// Package policy holds what a node is allowed to look like. Each probe owns one
// section: its Go type, its embedded defaults and its validation live next to
// the probe, and it registers them here. A --policy file overrides the defaults
// section by section and is parsed strictly: an unknown key is an error that
// names it.
package policy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"

	"sigs.k8s.io/yaml"
)

// Validator is implemented by section types that can check themselves after
// the defaults and the user's file have been merged.
type Validator interface {
	Validate() error
}

type section struct {
	defaults []byte
	newFn    func() any
}

var (
	mu       sync.RWMutex
	sections = map[string]section{}
)

// Register declares a policy section. newFn returns a pointer to a fresh zero
// value; defaultsYAML is decoded into it before any user file. It panics on a
// duplicate or malformed default, which is a programming error.
func Register(name string, defaultsYAML []byte, newFn func() any) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := sections[name]; dup {
		panic("policy: duplicate section " + name)
	}
	v := newFn()
	if reflect.TypeOf(v).Kind() != reflect.Pointer {
		panic("policy: section " + name + " must be a pointer")
	}
	if err := yaml.UnmarshalStrict(defaultsYAML, v); err != nil {
		panic(fmt.Sprintf("policy: built-in defaults of %s: %v", name, err))
	}
	sections[name] = section{defaults: defaultsYAML, newFn: newFn}
}

// Sections lists the registered section names, sorted.
func Sections() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(sections))
	for n := range sections {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Policy is the merged result of the built-in defaults and an optional file.
type Policy struct {
	Source   string // "built-in defaults" or the file path
	sections map[string]any
}

// Default returns the built-in policy.
func Default() *Policy {
	p, err := Parse(nil, "built-in defaults")
	if err != nil {
		panic(err) // defaults are validated at Register and by tests
	}
	return p
}

// Load reads and parses a policy file; an empty path means the defaults.
func Load(path string) (*Policy, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return Parse(data, path)
}

// Parse merges a policy document over the defaults.
func Parse(data []byte, source string) (*Policy, error) {
	mu.RLock()
	defer mu.RUnlock()
	var top map[string]yamlRaw
	if len(bytes.TrimSpace(data)) > 0 {
		if err := yaml.Unmarshal(data, &top); err != nil {
			return nil, fmt.Errorf("policy %s: %w", source, err)
		}
	}
	for name := range top {
		if _, ok := sections[name]; !ok {
			known := make([]string, 0, len(sections))
			for n := range sections {
				known = append(known, n)
			}
			sort.Strings(known)
			return nil, fmt.Errorf("policy %s: unknown section %q (known: %s)", source, name, strings.Join(known, ", "))
		}
	}
	p := &Policy{Source: source, sections: map[string]any{}}
	for name, s := range sections {
		v := s.newFn()
		if err := yaml.UnmarshalStrict(s.defaults, v); err != nil {
			return nil, fmt.Errorf("policy built-in %s: %w", name, err)
		}
		if raw, ok := top[name]; ok && raw.set {
			if err := yaml.UnmarshalStrict(raw.data, v); err != nil {
				return nil, fmt.Errorf("policy %s: section %s: %w", source, name, cleanYAMLErr(err))
			}
		}
		if val, ok := v.(Validator); ok {
			if err := val.Validate(); err != nil {
				return nil, fmt.Errorf("policy %s: section %s: %w", source, name, err)
			}
		}
		p.sections[name] = v
	}
	return p, nil
}

// Section returns the typed section registered under name. It panics if the
// section is missing or of another type: both are programming errors.
func Section[T any](p *Policy, name string) *T {
	v, ok := p.sections[name]
	if !ok {
		panic("policy: section " + name + " is not registered")
	}
	return v.(*T)
}

// yamlRaw keeps a section's YAML as JSON bytes for the strict second pass.
type yamlRaw struct {
	data []byte
	set  bool
}

func (r *yamlRaw) UnmarshalJSON(b []byte) error {
	r.data = append([]byte(nil), b...)
	r.set = !bytes.Equal(bytes.TrimSpace(b), []byte("null"))
	return nil
}

// cleanYAMLErr drops sigs.k8s.io/yaml's "error unmarshaling JSON: while
// decoding JSON: json:" prefix, which says nothing to someone editing YAML.
func cleanYAMLErr(err error) error {
	msg := err.Error()
	for _, p := range []string{"error unmarshaling JSON: ", "while decoding JSON: ", "json: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return errors.New(msg)
}
