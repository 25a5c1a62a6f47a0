package v1beta1_test

import (
	"encoding"
	"encoding/json"
	"reflect"
	"testing"

	upstream "k8s.io/kubelet/config/v1beta1"

	local "github.com/nodeguard/nodeguard/probes/kubelet/internal/config/v1beta1"
)

var (
	marshaler       = reflect.TypeFor[json.Marshaler]()
	unmarshaler     = reflect.TypeFor[json.Unmarshaler]()
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	zeroer          = reflect.TypeFor[interface{ IsZero() bool }]() // omitzero asks it
)

// TestSameShapeAsUpstream walks the copy and k8s.io/kubelet's
// KubeletConfiguration together: the same kinds, type names, field names and
// order, JSON tags and (un)marshalling methods all the way down. Types of
// packages that were not copied (apimachinery, k8s.io/api) must be the same type.
func TestSameShapeAsUpstream(t *testing.T) {
	seen := map[[2]reflect.Type]bool{}
	var walk func(path string, l, u reflect.Type)
	walk = func(path string, l, u reflect.Type) {
		if seen[[2]reflect.Type{l, u}] {
			return
		}
		seen[[2]reflect.Type{l, u}] = true
		if l.PkgPath() != reflect.TypeFor[local.KubeletConfiguration]().PkgPath() || l.Name() == "" {
			if l.Name() != "" && l != u {
				t.Errorf("%s: %v, upstream %v", path, l, u)
				return
			}
		} else if l.Name() != u.Name() {
			t.Errorf("%s: type %s, upstream %s", path, l.Name(), u.Name())
		}
		if l.Kind() != u.Kind() {
			t.Errorf("%s: kind %v, upstream %v", path, l.Kind(), u.Kind())
			return
		}
		for _, i := range []reflect.Type{marshaler, unmarshaler, textMarshaler, textUnmarshaler, zeroer} {
			if reflect.PointerTo(l).Implements(i) != reflect.PointerTo(u).Implements(i) || l.Implements(i) != u.Implements(i) {
				t.Errorf("%s: implements %v differently from upstream", path, i)
			}
		}
		switch l.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			walk(path+"[]", l.Elem(), u.Elem())
		case reflect.Map:
			walk(path+"{key}", l.Key(), u.Key())
			walk(path+"{}", l.Elem(), u.Elem())
		case reflect.Struct:
			if l.NumField() != u.NumField() {
				t.Errorf("%s: %d fields, upstream %d", path, l.NumField(), u.NumField())
			}
			for i := range min(l.NumField(), u.NumField()) {
				lf, uf := l.Field(i), u.Field(i)
				p := path + "." + lf.Name
				if lf.Name != uf.Name || lf.Tag != uf.Tag || lf.Anonymous != uf.Anonymous {
					t.Errorf("%s: field %s `%s`, upstream %s `%s`", p, lf.Name, lf.Tag, uf.Name, uf.Tag)
					continue
				}
				walk(p, lf.Type, uf.Type)
			}
		}
	}
	walk("KubeletConfiguration", reflect.TypeFor[local.KubeletConfiguration](), reflect.TypeFor[upstream.KubeletConfiguration]())
	if len(seen) < 30 {
		t.Errorf("walked only %d types", len(seen))
	}
}

// TestRegister holds the group, version and kinds to upstream's register.go.
func TestRegister(t *testing.T) {
	if local.GroupName != upstream.GroupName || local.Version != upstream.SchemeGroupVersion.Version {
		t.Errorf("%s/%s, upstream %s", local.GroupName, local.Version, upstream.SchemeGroupVersion)
	}
	for _, k := range []string{"KubeletConfiguration", "CredentialProviderConfig"} {
		if !local.KnownKind(k) {
			t.Errorf("%s is not known", k)
		}
	}
	if local.KnownKind("Foo") || local.KnownKind("") {
		t.Error("KnownKind takes anything")
	}
}
