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
// duplicate, which is a programming error. The defaults are decoded only when
// a policy needs the section, not at start-up: every process would otherwise
// pay for every probe's defaults (TestBuiltInDefaults checks them all).
func Register(name string, defaultsYAML []byte, newFn func() any) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := sections[name]; dup {
		panic("policy: duplicate section " + name)
	}
	if reflect.TypeOf(newFn()).Kind() != reflect.Pointer {
		panic("policy: section " + name + " must be a pointer")
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
	Source string // "built-in defaults" or the file path

	mu       sync.Mutex
	sections map[string]any
}

// Default returns the built-in policy. Its sections are decoded on first
// use: `nodeguard scan --only ports` needs one of them.
func Default() *Policy {
	return &Policy{Source: "built-in defaults", sections: map[string]any{}}
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

// Parse merges a policy document over the defaults. Every section is decoded
// and validated now, so that a mistake anywhere in the file stops the agent
// at start rather than when a probe first runs.
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
		var user []byte
		if raw, ok := top[name]; ok && raw.set {
			user = raw.data
		}
		v, err := s.decode(name, source, user)
		if err != nil {
			return nil, err
		}
		p.sections[name] = v
	}
	return p, nil
}

// decode merges user (JSON, may be nil) over the section's defaults.
func (s section) decode(name, source string, user []byte) (any, error) {
	v := s.newFn()
	if err := yaml.UnmarshalStrict(s.defaults, v); err != nil {
		return nil, fmt.Errorf("policy built-in %s: %w", name, err)
	}
	if user != nil {
		if err := yaml.UnmarshalStrict(user, v); err != nil {
			return nil, fmt.Errorf("policy %s: section %s: %w", source, name, cleanYAMLErr(err))
		}
	}
	if val, ok := v.(Validator); ok {
		if err := val.Validate(); err != nil {
			return nil, fmt.Errorf("policy %s: section %s: %w", source, name, err)
		}
	}
	return v, nil
}

// Section returns the typed section registered under name, the same pointer
// on every call. It panics if the section is missing, of another type or has
// broken built-in defaults: all are programming errors.
func Section[T any](p *Policy, name string) *T {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.sections[name]
	if !ok {
		mu.RLock()
		s, registered := sections[name]
		mu.RUnlock()
		if !registered {
			panic("policy: section " + name + " is not registered")
		}
		var err error
		if v, err = s.decode(name, p.Source, nil); err != nil {
			panic(err)
		}
		p.sections[name] = v
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
