package kubelet

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	upstream "k8s.io/kubelet/config/v1beta1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// The probes decode kubelet configuration files with a generated copy of
// k8s.io/kubelet's types (internal/config/v1beta1) and no runtime.Scheme.
// These tests hold both to the upstream package, which only tests import.

// upstreamDecodeConfigFile is decodeConfigFile as it was with the upstream
// types: the strict universal deserializer of a scheme holding them.
func upstreamDecodeConfigFile(p string, data []byte) (*configFile, *upstream.KubeletConfiguration, error) {
	return decodeConfigFileWith(p, data, func(data []byte) (*upstream.KubeletConfiguration, *schema.GroupVersionKind, error) {
		s := runtime.NewScheme()
		if err := upstream.AddToScheme(s); err != nil {
			panic(err)
		}
		obj, gvk, err := serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer().Decode(data, nil, nil)
		if obj == nil {
			return nil, gvk, err
		}
		kc, ok := obj.(*upstream.KubeletConfiguration)
		if !ok {
			return nil, gvk, nil // another kind of the group
		}
		return kc, gvk, err
	})
}

// schemeIn is the scheme's name in "not registered" errors: a runtime.Scheme
// names itself after the file and line that made it.
var schemeIn = regexp.MustCompile(` in scheme "[^"]*"`)

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return schemeIn.ReplaceAllString(err.Error(), ` in scheme "S"`)
}

const head = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"

// decodeCases are documents that exercise the decoder's paths.
var decodeCases = map[string]string{
	"yaml":               head + "readOnlyPort: 0\nauthentication:\n  anonymous:\n    enabled: false\n",
	"json":               `{"apiVersion":"kubelet.config.k8s.io/v1beta1","kind":"KubeletConfiguration","readOnlyPort":0}`,
	"json indented":      "\n   {\"kind\":\"KubeletConfiguration\",\n \"apiVersion\":\"kubelet.config.k8s.io/v1beta1\",\"port\":10250}\n",
	"json tab":           "\n  \t{\"kind\":\"KubeletConfiguration\",\"apiVersion\":\"kubelet.config.k8s.io/v1beta1\",\"port\":10250}\n",
	"json unknown":       `{"apiVersion":"kubelet.config.k8s.io/v1beta1","kind":"KubeletConfiguration","readOnlyport":1,"foo":{"bar":1}}`,
	"json duplicate":     `{"apiVersion":"kubelet.config.k8s.io/v1beta1","kind":"KubeletConfiguration","port":1,"port":2}`,
	"json syntax":        `{"apiVersion":"kubelet.config.k8s.io/v1beta1",`,
	"json wrong type":    `{"apiVersion":"kubelet.config.k8s.io/v1beta1","kind":"KubeletConfiguration","port":"x"}`,
	"json array":         `[1, 2]`,
	"yaml duplicate":     head + "port: 1\nport: 2\n",
	"yaml dup+unknown":   head + "port: 1\nport: 2\nfoo: 3\nauthentication:\n  anonymous:\n    enabeld: true\n",
	"yaml case":          head + "readOnlyport: 10255\nReadOnlyPort: 1\n",
	"yaml wrong type":    head + "readOnlyPort: abc\n",
	"yaml float":         head + "readOnlyPort: 1.5\n",
	"yaml big":           head + "podPidsLimit: 9223372036854775807\ncontainerLogMaxWorkers: 2\n",
	"yaml nulls":         head + "authentication: null\nreadOnlyPort: null\nfeatureGates: null\n",
	"yaml syntax":        head + "a: b: c\n",
	"yaml tab":           head + "\tport: 1\n",
	"yaml list":          "- a\n- b\n",
	"yaml scalar":        "hello\n",
	"yaml int keys":      head + "1: 2\n",
	"yaml documents":     "---\n" + head + "port: 1\n---\n" + head + "port: 2\n",
	"yaml comment":       "# kubelet\n" + head + "port: 3 # the port\n",
	"no kind":            "apiVersion: kubelet.config.k8s.io/v1beta1\nport: 1\n",
	"no apiVersion":      "kind: KubeletConfiguration\nport: 1\n",
	"empty object":       "{}",
	"only group":         "apiVersion: kubelet.config.k8s.io\nkind: KubeletConfiguration\n",
	"no group":           "apiVersion: v1beta1\nkind: KubeletConfiguration\n",
	"v1alpha1":           "apiVersion: kubelet.config.k8s.io/v1alpha1\nkind: KubeletConfiguration\n",
	"v1":                 "apiVersion: kubelet.config.k8s.io/v1\nkind: KubeletConfiguration\n",
	"internal":           "apiVersion: kubelet.config.k8s.io/__internal\nkind: KubeletConfiguration\n",
	"bad apiVersion":     "apiVersion: a/b/c\nkind: KubeletConfiguration\n",
	"apiVersion number":  "apiVersion: 1\nkind: KubeletConfiguration\n",
	"kind list":          "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: [a]\n",
	"unknown kind":       "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: Foo\n",
	"lower-case kind":    "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: kubeletConfiguration\n",
	"other kind":         "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: CredentialProviderConfig\nproviders: []\n",
	"other kind unknown": "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: SerializedNodeConfigSource\nfoo: 1\n",
	"kubeconfig":         "apiVersion: v1\nkind: Config\nclusters: []\n",
	"core kind":          "apiVersion: v1\nkind: Pod\n",
	"every kind of field": head + `
address: 0.0.0.0
staticPodPath: manifests
syncFrequency: 1m0s
evictionHard:
  memory.available: 100Mi
evictionSoftGracePeriod: {}
featureGates:
  RotateKubeletServerCertificate: true
  Foo: false
tlsCipherSuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
registerWithTaints:
- key: a
  value: b
  effect: NoSchedule
  timeAdded: "2026-01-02T03:04:05Z"
reservedMemory:
- numaNode: 0
  limits:
    memory: 1Gi
logging:
  format: json
  flushFrequency: 5s
  verbosity: 4
  vmodule:
  - filePattern: foo*
    verbosity: 5
  options:
    json:
      splitStream: true
      infoBufferSize: 1Mi
    text:
      infoBufferSize: "0"
tracing:
  endpoint: localhost:4317
  samplingRatePerMillion: 10
shutdownGracePeriodByPodPriority:
- priority: 1
  shutdownGracePeriodSeconds: 10
memorySwap:
  swapBehavior: LimitedSwap
crashLoopBackOff:
  maxContainerRestartPeriod: 10s
userNamespaces:
  idsPerPod: 65536
enableSystemLogHandler: true
kubeReserved:
  cpu: 100m
`,
	"logging int flush": head + "logging:\n  flushFrequency: 5000000000\n  options:\n    text:\n      splitStream: true\n      foo: 1\n",
	"logging bad flush": head + "logging:\n  flushFrequency: [1]\n",
	"bad quantity":      head + "logging:\n  options:\n    json:\n      infoBufferSize: lots\n",
	"bad duration":      head + "syncFrequency: soon\n",
	"bad taint time":    head + "registerWithTaints:\n- key: a\n  timeAdded: yesterday\n",
}

// corpus is decodeCases and every YAML, JSON and .conf file of the fixtures.
func corpus(t *testing.T) map[string][]byte {
	t.Helper()
	c := map[string][]byte{}
	for name, doc := range decodeCases {
		c[name] = []byte(doc)
	}
	err := filepath.WalkDir("testdata", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		switch filepath.Ext(p) {
		case ".yaml", ".yml", ".json", ".conf":
			data, err := os.ReadFile(p)
			c[p] = data
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDecodeLikeUpstream decodes every document with decodeConfigFile and
// with the scheme-based decoder over the upstream types: the same errors
// (but for the scheme's name), the same ignored fields, the same raw JSON
// and the same configuration, encoded as JSON and as YAML.
func TestDecodeLikeUpstream(t *testing.T) {
	for name, data := range corpus(t) {
		t.Run(name, func(t *testing.T) {
			cf, kc, err := decodeConfigFile("/f", data)
			ucf, ukc, uerr := upstreamDecodeConfigFile("/f", data)
			if errString(err) != errString(uerr) {
				t.Fatalf("error\n got %s\nwant %s", errString(err), errString(uerr))
			}
			if err != nil {
				return
			}
			if cf.Unknown != ucf.Unknown || !bytes.Equal(cf.Raw, ucf.Raw) {
				t.Errorf("file\n got %+v\nwant %+v", cf, ucf)
			}
			sameEncoding(t, kc, ukc)
		})
	}
}

// sameEncoding fails unless local and up encode to the same JSON and YAML.
func sameEncoding(t *testing.T, local, up any) {
	t.Helper()
	for _, enc := range []struct {
		name string
		f    func(any) ([]byte, error)
	}{{"json", json.Marshal}, {"yaml", func(v any) ([]byte, error) { return yaml.Marshal(v) }}} {
		got, err := enc.f(local)
		if err != nil {
			t.Fatal(err)
		}
		want, err := enc.f(up)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s encoding differs from k8s.io/kubelet's\n got %s\nwant %s", enc.name, got, want)
		}
	}
}

// TestEffectiveEncodesLikeUpstream encodes the effective configuration of
// every fixture host with the generated types and, decoded strictly into
// k8s.io/kubelet's, with the upstream ones: JSON and YAML byte for byte.
func TestEffectiveEncodesLikeUpstream(t *testing.T) {
	ents, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	resolved := 0
	for _, ent := range ents {
		if !ent.IsDir() {
			continue
		}
		t.Run(ent.Name(), func(t *testing.T) {
			e, _, err := Find(openRoot(t, filepath.Join("testdata", ent.Name())), "", "")
			if err != nil {
				switch ent.Name() {
				case "malformed", "symlink-out": // config files that cannot be read
					return
				}
				t.Fatal(err)
			}
			resolved++
			data, err := json.Marshal(&e.Config)
			if err != nil {
				t.Fatal(err)
			}
			var up upstream.KubeletConfiguration
			if strict, err := kjson.UnmarshalStrict(data, &up); err != nil || len(strict) > 0 {
				t.Fatalf("upstream decoding: %v %v", err, strict)
			}
			sameEncoding(t, &e.Config, &up)
		})
	}
	if resolved < 8 {
		t.Errorf("only %d fixtures resolved", resolved)
	}
}
