package kubelet

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"
)

// kubeletCodecs is built on first use: only a scan that reads a kubelet
// configuration pays for the scheme.
var kubeletCodecs = sync.OnceValue(func() serializer.CodecFactory {
	s := runtime.NewScheme()
	if err := kubeletv1beta1.AddToScheme(s); err != nil {
		panic(err)
	}
	return serializer.NewCodecFactory(s, serializer.EnableStrict)
})

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
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, nil, fmt.Errorf("kubelet config file %s is empty", p)
	}
	obj, gvk, err := kubeletCodecs().UniversalDeserializer().Decode(data, nil, nil)
	cf := &configFile{Path: p}
	if err != nil {
		if !runtime.IsStrictDecodingError(err) || obj == nil {
			return nil, nil, fmt.Errorf("kubelet config file %s: %s", p, cleanDecodeErr(err))
		}
		cf.Unknown = cleanDecodeErr(err)
	}
	kc, ok := obj.(*kubeletv1beta1.KubeletConfiguration)
	if !ok {
		return nil, nil, fmt.Errorf("kubelet config file %s: is a %v, want kubelet.config.k8s.io/v1beta1 KubeletConfiguration", p, gvk)
	}
	raw, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, nil, fmt.Errorf("kubelet config file %s: %w", p, err)
	}
	cf.Raw = raw
	return cf, kc, nil
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
