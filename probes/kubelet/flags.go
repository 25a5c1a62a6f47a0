package kubelet

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// valueKind is how a mapped flag's string becomes a JSON config value.
type valueKind int

const (
	kindString valueKind = iota
	kindBool
	kindInt
	kindDuration
	kindStringSlice // repeated flags append, as pflag's StringSlice does
	kindMapBool     // "a=true,b=false"; repeated flags merge
)

// configFlag maps a kubelet flag onto its KubeletConfiguration field.
type configFlag struct {
	Path string
	Kind valueKind
}

// configFlags are the flags whose fields the checks read (cmd/kubelet/app/
// options AddKubeletConfigFlags). A flag given on the command line wins over
// every config file.
var configFlags = map[string]configFlag{
	"anonymous-auth":                    {"authentication.anonymous.enabled", kindBool},
	"authentication-token-webhook":      {"authentication.webhook.enabled", kindBool},
	"client-ca-file":                    {"authentication.x509.clientCAFile", kindString},
	"authorization-mode":                {"authorization.mode", kindString},
	"read-only-port":                    {"readOnlyPort", kindInt},
	"port":                              {"port", kindInt},
	"address":                           {"address", kindString},
	"streaming-connection-idle-timeout": {"streamingConnectionIdleTimeout", kindDuration},
	"make-iptables-util-chains":         {"makeIPTablesUtilChains", kindBool},
	"event-qps":                         {"eventRecordQPS", kindInt},
	"tls-cert-file":                     {"tlsCertFile", kindString},
	"tls-private-key-file":              {"tlsPrivateKeyFile", kindString},
	"tls-cipher-suites":                 {"tlsCipherSuites", kindStringSlice},
	"tls-min-version":                   {"tlsMinVersion", kindString},
	"rotate-certificates":               {"rotateCertificates", kindBool},
	"rotate-server-certificates":        {"serverTLSBootstrap", kindBool},
	"feature-gates":                     {"featureGates", kindMapBool},
	"pod-max-pids":                      {"podPidsLimit", kindInt},
	"protect-kernel-defaults":           {"protectKernelDefaults", kindBool},
	"pod-manifest-path":                 {"staticPodPath", kindString},
}

// Command-line-only kubelet flags (KubeletFlags) the checks read.
const (
	flagConfig           = "config"
	flagConfigDir        = "config-dir"
	flagKubeconfig       = "kubeconfig"
	flagHostnameOverride = "hostname-override"
	// --seccomp-default is a KubeletFlags field in its own right: the kubelet
	// uses it OR seccompDefault (cmd/kubelet/app/server.go).
	flagSeccompDefault = "seccomp-default"
)

// recordedValue keeps every raw value a flag was given, in order.
type recordedValue struct {
	kind   string
	values []string
}

func (v *recordedValue) String() string { return strings.Join(v.values, ",") }
func (v *recordedValue) Set(s string) error {
	v.values = append(v.values, s)
	return nil
}
func (v *recordedValue) Type() string { return v.kind }

// kubeletArgs is a parsed kubelet command line.
type kubeletArgs struct {
	// Set holds each flag given, by canonical name, with all its values.
	Set   map[string][]string
	Order []string // flag names in first-seen order
}

// Last returns the last value of a flag and whether it was given.
func (a *kubeletArgs) Last(name string) (string, bool) {
	v, ok := a.Set[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// unknownFlag is a command-line flag the version's table does not have.
type unknownFlag struct {
	Name string // normalised, without dashes
	Arg  string // as given, with its value when it had one
}

// splitUnknown removes the flags the table does not know, with their values,
// so that one flag of another version costs nothing but its own finding. A
// separate value is taken to belong to it when another version's flag of
// that name takes one, or, for a name no version has, when the next argument
// is not a flag.
func splitUnknown(args []string, t *versionTable) (known []string, unknown []unknownFlag) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			known = append(known, args[i:]...)
			break
		}
		body, ok := strings.CutPrefix(a, "--")
		if !ok || body == "" {
			known = append(known, a) // shorthands and stray words: pflag judges them
			continue
		}
		name, _, hasValue := strings.Cut(body, "=")
		name = normalizeFlag(name)
		if _, ok := t.Flags[name]; ok {
			known = append(known, a)
			continue
		}
		u := unknownFlag{Name: name, Arg: a}
		if !hasValue && i+1 < len(args) {
			spec, elsewhere := union().Flags[name]
			takesValue := (elsewhere && !spec.Bool) || (!elsewhere && !strings.HasPrefix(args[i+1], "-"))
			if takesValue {
				u.Arg += " " + args[i+1]
				i++
			}
		}
		unknown = append(unknown, u)
	}
	return known, unknown
}

func normalizeFlag(name string) string { return strings.ReplaceAll(name, "_", "-") }

// parseKubeletArgs parses the kubelet's arguments (without argv[0]) with the
// same library and the flag table of the kubelet's version, so that "--flag
// value", "--flag=value", boolean flags and underscores in names behave the
// same. Flags the table does not have are returned apart; a stray argument
// is an error, as it is for the kubelet.
func parseKubeletArgs(args []string, t *versionTable) (*kubeletArgs, []unknownFlag, error) {
	args, unknown := splitUnknown(args, t)
	fs := pflag.NewFlagSet("kubelet", pflag.ContinueOnError)
	fs.SetOutput(discard{})
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		return pflag.NormalizedName(normalizeFlag(name))
	})
	recs := map[string]*recordedValue{}
	for name, spec := range t.Flags {
		rv := &recordedValue{kind: "string"}
		if spec.Bool {
			rv.kind = "bool"
		}
		recs[name] = rv
		f := fs.VarPF(rv, name, spec.Shorthand, "")
		if spec.Bool {
			f.NoOptDefVal = "true"
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, unknown, err
	}
	if fs.NArg() > 0 {
		return nil, unknown, fmt.Errorf("unknown command %q (the kubelet takes flags only)", fs.Arg(0))
	}
	out := &kubeletArgs{Set: map[string][]string{}}
	fs.Visit(func(f *pflag.Flag) {
		out.Set[f.Name] = recs[f.Name].values
		out.Order = append(out.Order, f.Name)
	})
	return out, unknown, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// flagPatch turns the config flags given on the command line into a JSON merge
// patch, and lists which config path each flag set.
func flagPatch(a *kubeletArgs) ([]byte, map[string]string, error) {
	patch := map[string]any{}
	paths := map[string]string{}
	for _, name := range a.Order {
		cf, ok := configFlags[name]
		if !ok {
			continue
		}
		vals := a.Set[name]
		last := vals[len(vals)-1]
		var v any
		var err error
		switch cf.Kind {
		case kindString:
			v = last
		case kindBool:
			v, err = strconv.ParseBool(last)
		case kindInt:
			v, err = strconv.ParseInt(last, 0, 64)
		case kindDuration:
			var d time.Duration
			d, err = time.ParseDuration(last)
			v = d.String()
		case kindStringSlice:
			var all []string
			for _, s := range vals {
				for _, p := range strings.Split(s, ",") {
					if p = strings.TrimSpace(p); p != "" {
						all = append(all, p)
					}
				}
			}
			v = all
		case kindMapBool:
			m := map[string]any{}
			for _, s := range vals {
				for _, kv := range strings.Split(s, ",") {
					if strings.TrimSpace(kv) == "" {
						continue
					}
					k, bv, found := strings.Cut(kv, "=")
					if !found {
						return nil, nil, fmt.Errorf("flag --%s: %q is not key=true|false", name, kv)
					}
					b, perr := strconv.ParseBool(strings.TrimSpace(bv))
					if perr != nil {
						return nil, nil, fmt.Errorf("flag --%s: %q: %v", name, kv, perr)
					}
					k = strings.TrimSpace(k)
					m[k] = b
					paths[cf.Path+"."+k] = name
				}
			}
			setPath(patch, cf.Path, m)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("flag --%s=%q: %v", name, last, err)
		}
		setPath(patch, cf.Path, v)
		paths[cf.Path] = name
	}
	data, err := json.Marshal(patch)
	return data, paths, err
}

func setPath(m map[string]any, p string, v any) {
	parts := strings.Split(p, ".")
	for _, k := range parts[:len(parts)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

// FlagTable returns the flags of the kubelet release version, each with
// whether it takes no value, when nodeguard has that release's table.
func FlagTable(version string) (map[string]bool, bool) {
	for _, t := range generatedTables() {
		if t.Version == version {
			out := map[string]bool{}
			for name, f := range t.Flags {
				out[name] = f.Bool
			}
			return out, true
		}
	}
	return nil, false
}

// TableVersions lists the releases nodeguard has tables for, oldest first.
func TableVersions() []string {
	out := make([]string, len(generatedTables()))
	for i, t := range generatedTables() {
		out[i] = t.Version
	}
	return out
}
