package kubelet

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	kubeletv1beta1 "github.com/nodeguard/nodeguard/probes/kubelet/internal/config/v1beta1"
)

//go:generate go run ./internal/kubeletgen -o internal/config/v1beta1/zz_generated_types.go

// schemeName names the set of kinds decodeKubeletConfiguration knows in its
// "not registered" errors, where a runtime.Scheme gives its call site.
const schemeName = "github.com/nodeguard/nodeguard/probes/kubelet"

// configFile is one decoded kubelet configuration file.
type configFile struct {
	Path string
	// Raw is the file as JSON (YAML converted), for merge patches and for
	// telling which fields the file sets.
	Raw []byte
	// Unknown lists the fields the kubelet ignores (it falls back to
	// lenient decoding with a log line): typos that silently change nothing.
	Unknown string
}

// decodeConfigFile decodes a KubeletConfiguration the way the kubelet does:
// apiVersion and kind must be kubelet.config.k8s.io/v1beta1
// KubeletConfiguration; unknown or duplicate fields are tolerated but reported.
func decodeConfigFile(p string, data []byte) (*configFile, *kubeletv1beta1.KubeletConfiguration, error) {
	return decodeConfigFileWith(p, data, decodeKubeletConfiguration)
}

// decodeConfigFileWith is decodeConfigFile with the decoder of the document,
// which returns no configuration and no error for another kind it knows (the
// tests pass a scheme's, with k8s.io/kubelet's types).
func decodeConfigFileWith[T any](p string, data []byte, decode func([]byte) (*T, *schema.GroupVersionKind, error)) (*configFile, *T, error) {
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, nil, fmt.Errorf("kubelet config file %s is empty", p)
	}
	kc, gvk, err := decode(data)
	cf := &configFile{Path: p}
	if err != nil {
		if !runtime.IsStrictDecodingError(err) || kc == nil {
			return nil, nil, fmt.Errorf("kubelet config file %s: %s", p, cleanDecodeErr(err))
		}
		cf.Unknown = cleanDecodeErr(err)
	}
	if kc == nil {
		return nil, nil, fmt.Errorf("kubelet config file %s: is a %v, want kubelet.config.k8s.io/v1beta1 KubeletConfiguration", p, gvk)
	}
	raw, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, nil, fmt.Errorf("kubelet config file %s: %w", p, err)
	}
	cf.Raw = raw
	return cf, kc, nil
}

// decodeKubeletConfiguration is the strict universal deserializer of a
// runtime.Scheme holding k8s.io/kubelet's config/v1beta1 kinds, for the one
// kind the probes read, without the scheme: JSON when the data starts with
// "{", YAML otherwise; the apiVersion and kind must be present and name a
// kind of the group; unknown and duplicate fields are a strict decoding
// error that still returns the decoded configuration. For another kind of
// the group it returns no configuration and no error, with the kind found.
func decodeKubeletConfiguration(data []byte) (*kubeletv1beta1.KubeletConfiguration, *schema.GroupVersionKind, error) {
	isJSON := utilyaml.IsJSONBuffer(data)
	js := data
	var strictErrs []error
	if !isJSON {
		// The strict form reports duplicate keys, which YAMLToJSON resolves
		// to the last; without any the two give the same JSON, so the
		// lenient parse runs only when the strict one fails.
		var err error
		if js, err = yaml.YAMLToJSONStrict(data); err != nil {
			strictErrs = append(strictErrs, err)
			if js, err = yaml.YAMLToJSON(data); err != nil {
				return nil, nil, err
			}
		}
	}
	// As the serializer's meta factory reads them.
	var meta struct {
		APIVersion string `json:"apiVersion,omitempty"`
		Kind       string `json:"kind,omitempty"`
	}
	if err := json.Unmarshal(js, &meta); err != nil {
		return nil, nil, fmt.Errorf("couldn't get version/kind; json parse error: %v", err)
	}
	gv, err := schema.ParseGroupVersion(meta.APIVersion)
	if err != nil {
		return nil, nil, err
	}
	gvk := gv.WithKind(meta.Kind)
	switch {
	case gvk.Kind == "":
		return nil, &gvk, runtime.NewMissingKindErr(string(data))
	case gvk.Version == "":
		return nil, &gvk, runtime.NewMissingVersionErr(string(data))
	case gvk.Group != kubeletv1beta1.GroupName || gvk.Version != kubeletv1beta1.Version || !kubeletv1beta1.KnownKind(gvk.Kind):
		return nil, &gvk, runtime.NewNotRegisteredErrForKind(schemeName, gvk)
	case gvk.Kind != "KubeletConfiguration":
		return nil, &gvk, nil
	}
	kc := &kubeletv1beta1.KubeletConfiguration{}
	jsonErrs, err := kjson.UnmarshalStrict(js, kc)
	if err != nil {
		return nil, &gvk, err
	}
	if strictErrs = append(strictErrs, jsonErrs...); len(strictErrs) > 0 {
		return kc, &gvk, runtime.NewStrictDecodingError(strictErrs)
	}
	return kc, &gvk, nil
}

func cleanDecodeErr(err error) string {
	msg := err.Error()
	msg = strings.ReplaceAll(msg, "error unmarshaling JSON: while decoding JSON: ", "")
	return msg
}

// leafPaths lists the dotted paths of every non-object value in a JSON
// document ("authentication.anonymous.enabled"); explicit nulls are returned
// separately because a merge patch uses them to delete a field.
func leafPaths(raw []byte) (set, null []string, err error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, err
	}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch t := v.(type) {
		case map[string]any:
			if len(t) == 0 && prefix != "" {
				set = append(set, prefix)
			}
			for k, c := range t {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, c)
			}
		case nil:
			null = append(null, prefix)
		default:
			set = append(set, prefix)
		}
	}
	for k, v := range m {
		if k == "apiVersion" || k == "kind" {
			continue
		}
		walk(k, v)
	}
	sort.Strings(set)
	sort.Strings(null)
	return set, null, nil
}

// rawValue returns the JSON value at a dotted path of a JSON document.
func rawValue(raw []byte, p string) (any, bool) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, false
	}
	for _, part := range strings.Split(p, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[part]; !ok {
			return nil, false
		}
	}
	return v, true
}
