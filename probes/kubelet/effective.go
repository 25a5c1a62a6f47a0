package kubelet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"

	kubeletv1beta1 "github.com/nodeguard/nodeguard/probes/kubelet/internal/config/v1beta1"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// SourceKind says which layer of the kubelet's configuration set a value.
type SourceKind string

const (
	FromDefault       SourceKind = "default"
	FromLegacyDefault SourceKind = "default-without-config" // flags-only kubelet
	FromFile          SourceKind = "file"
	FromDropIn        SourceKind = "drop-in"
	FromFlag          SourceKind = "flag"
)

// Source is where an effective value came from.
type Source struct {
	Kind SourceKind `json:"kind"`
	// Where is the file path or the flag ("--read-only-port").
	Where string `json:"where,omitempty"`
}

func (s Source) String() string {
	switch s.Kind {
	case FromDefault:
		if s.Where != "" {
			return "kubelet default (" + s.Where + ")"
		}
		return "kubelet default"
	case FromLegacyDefault:
		return "kubelet default without --config"
	case FromFlag:
		return "flag " + s.Where
	}
	return string(s.Kind) + " " + s.Where
}

// Effective is the kubelet's configuration as the kubelet computes it.
type Effective struct {
	// Found says how the kubelet was found: "process 1234" or "systemd unit ...".
	Found string
	PID   int
	Args  []string // without argv[0]
	// UnitFiles are the systemd unit and drop-ins, when there is a unit.
	UnitFiles []string
	EnvFiles  []string
	// ConfigFile and ConfigDir are host paths from --config and --config-dir.
	ConfigFile string
	ConfigDir  string
	DropIns    []string
	Config     kubeletv1beta1.KubeletConfiguration
	// Flags are the last values of the command-line-only flags given.
	Flags   map[string]string
	Sources map[string]Source
	// Unknown maps a config file to the fields in it the kubelet ignores.
	Unknown map[string]string
	// Version is the kubelet version whose tables judged flags and defaults.
	Version JudgedVersion
	// UnknownFlags are the flags that version does not have, as given.
	UnknownFlags []string
	table        *versionTable
}

// WithConfig reports whether the kubelet reads a config file, which decides
// which defaults apply.
func (e *Effective) WithConfig() bool { return e.ConfigFile != "" }

// Source returns where a config path (or a "--flag") got its value.
func (e *Effective) Source(p string) Source {
	if p == "seccompDefault" {
		if on, err := strconv.ParseBool(e.Flags[flagSeccompDefault]); err == nil && on {
			return Source{Kind: FromFlag, Where: "--" + flagSeccompDefault}
		}
	}
	if s, ok := e.Sources[p]; ok {
		return s
	}
	if !e.WithConfig() && legacyDefaulted[p] {
		return Source{Kind: FromLegacyDefault}
	}
	return Source{Kind: FromDefault}
}

// Resolve computes the effective configuration from a kubelet command line
// of a kubelet whose version is unknown (judged against the union of the
// tables). cwd resolves relative paths on it (the kubelet's working directory).
func Resolve(root *hostfs.Root, args []string, cwd string) (*Effective, error) {
	return ResolveVersion(root, args, cwd, "", "")
}

// ResolveVersion is Resolve for a kubelet of a known version ("v1.34.2"),
// learnt from from; an empty version is unknown.
func ResolveVersion(root *hostfs.Root, args []string, cwd, version, from string) (*Effective, error) {
	t, jv := selectTable(version, from)
	e := &Effective{Args: args, Flags: map[string]string{}, Sources: map[string]Source{}, Unknown: map[string]string{},
		Version: jv, table: t}
	ka, unknown, err := parseKubeletArgs(args, t)
	for _, u := range unknown {
		e.UnknownFlags = append(e.UnknownFlags, u.Arg)
	}
	if err != nil {
		return e, fmt.Errorf("kubelet command line: %w", err)
	}
	for name := range ka.Set {
		if _, mapped := configFlags[name]; !mapped {
			e.Flags[name], _ = ka.Last(name)
		}
	}
	abs := func(p string) string {
		if p == "" || path.IsAbs(p) {
			return p
		}
		return path.Join(cwd, p)
	}
	e.ConfigFile = abs(e.Flags[flagConfig])
	e.ConfigDir = abs(e.Flags[flagConfigDir])
	if kc := e.Flags[flagKubeconfig]; kc != "" {
		e.Flags[flagKubeconfig] = abs(kc)
	}

	var kc kubeletv1beta1.KubeletConfiguration
	if e.ConfigFile != "" {
		data, err := root.ReadFile(e.ConfigFile)
		if err != nil {
			return e, fmt.Errorf("kubelet config file (--config): %w", err)
		}
		cf, decoded, err := decodeConfigFile(e.ConfigFile, data)
		if err != nil {
			return e, err
		}
		kc = *decoded
		if cf.Unknown != "" {
			e.Unknown[cf.Path] = cf.Unknown
		}
		set, _, err := leafPaths(cf.Raw)
		if err != nil {
			return e, fmt.Errorf("kubelet config file %s: %w", cf.Path, err)
		}
		for _, p := range set {
			e.Sources[p] = Source{Kind: FromFile, Where: cf.Path}
		}
		resolveRelativePaths(&kc, path.Dir(e.ConfigFile))
		e.defaulted(setDefaults(&kc, &t.Config))
	} else {
		setLegacyDefaults(&kc, t)
	}

	if e.ConfigDir != "" {
		if err := e.mergeDropIns(root, &kc); err != nil {
			return e, err
		}
	}

	patch, flagPaths, err := flagPatch(ka)
	if err != nil {
		return e, fmt.Errorf("kubelet command line: %w", err)
	}
	if err := applyPatch(&kc, patch); err != nil {
		return e, fmt.Errorf("kubelet command line: %w", err)
	}
	for p, name := range flagPaths {
		e.Sources[p] = Source{Kind: FromFlag, Where: "--" + name}
	}
	for name := range e.Flags {
		e.Sources["--"+name] = Source{Kind: FromFlag, Where: "--" + name}
	}
	e.Config = kc
	return e, nil
}

// mergeDropIns applies the --config-dir drop-ins as the kubelet does: every
// *.conf file below the directory, in lexical walk order, as a JSON merge
// patch over the configuration so far, then the defaults again.
func (e *Effective) mergeDropIns(root *hostfs.Root, kc *kubeletv1beta1.KubeletConfiguration) error {
	files, err := walkConf(root, e.ConfigDir, 0)
	if err != nil {
		return fmt.Errorf("kubelet drop-in directory (--config-dir): %w", err)
	}
	for _, f := range files {
		data, err := root.ReadFile(f)
		if err != nil {
			return fmt.Errorf("kubelet drop-in: %w", err)
		}
		cf, _, err := decodeConfigFile(f, data)
		if err != nil {
			return fmt.Errorf("kubelet drop-in: %w", err)
		}
		if cf.Unknown != "" {
			e.Unknown[f] = cf.Unknown
		}
		patch, err := stripTypeMeta(cf.Raw)
		if err != nil {
			return fmt.Errorf("kubelet drop-in %s: %w", f, err)
		}
		if err := applyPatch(kc, patch); err != nil {
			return fmt.Errorf("kubelet drop-in %s: %w", f, err)
		}
		set, null, err := leafPaths(cf.Raw)
		if err != nil {
			return fmt.Errorf("kubelet drop-in %s: %w", f, err)
		}
		for _, p := range set {
			e.Sources[p] = Source{Kind: FromDropIn, Where: f}
		}
		for _, p := range null {
			// A null deletes the field; the defaulting below sets it again.
			for q := range e.Sources {
				if q == p || strings.HasPrefix(q, p+".") {
					delete(e.Sources, q)
				}
			}
		}
		e.DropIns = append(e.DropIns, f)
	}
	e.defaulted(setDefaults(kc, &e.table.Config))
	return nil
}

// defaulted records that the kubelet's defaulting filled paths: a file that
// wrote a zero value there did not set it.
func (e *Effective) defaulted(paths []string) {
	for _, p := range paths {
		if s, ok := e.Sources[p]; ok {
			e.Sources[p] = Source{Kind: FromDefault, Where: "zero value in " + s.Where + " counts as unset"}
		}
	}
}

// walkConf lists the *.conf files below dir in filepath.WalkDir order.
func walkConf(root *hostfs.Root, dir string, depth int) ([]string, error) {
	if depth > 16 {
		return nil, fmt.Errorf("%s: directories nested too deep", dir)
	}
	ents, err := root.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ent := range ents {
		p := path.Join(dir, ent.Name())
		// WalkDir does not follow symlinked directories; a symlink is a file.
		if ent.IsDir() {
			sub, err := walkConf(root, p, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		if path.Ext(ent.Name()) == ".conf" {
			out = append(out, p)
		}
	}
	return out, nil
}

// applyPatch merges a JSON merge patch into kc through its JSON form, as the
// kubelet merges drop-ins.
func applyPatch(kc *kubeletv1beta1.KubeletConfiguration, patch []byte) error {
	base, err := json.Marshal(kc)
	if err != nil {
		return err
	}
	merged, err := jsonpatch.MergePatch(base, patch)
	if err != nil {
		return err
	}
	var out kubeletv1beta1.KubeletConfiguration
	if err := json.Unmarshal(merged, &out); err != nil {
		return err
	}
	*kc = out
	return nil
}

func stripTypeMeta(raw []byte) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	delete(m, "apiVersion")
	delete(m, "kind")
	return json.Marshal(m)
}

// resolveRelativePaths makes the file paths the checks read absolute
// relative to the config file's directory, as the kubelet's loader does.
func resolveRelativePaths(kc *kubeletv1beta1.KubeletConfiguration, dir string) {
	for _, p := range []*string{&kc.Authentication.X509.ClientCAFile, &kc.TLSCertFile, &kc.TLSPrivateKeyFile, &kc.StaticPodPath} {
		if *p != "" && !path.IsAbs(*p) {
			*p = path.Join(dir, *p)
		}
	}
}

// Field is one effective value with its source, as `kubelet effective` prints it.
type Field struct {
	Path   string `json:"path"`
	Value  string `json:"value"`
	Source Source `json:"source"`
	// Checked is true for the fields the kubelet probe's checks read.
	Checked bool `json:"checked"`
}

// checkedPaths are the config paths and flags the checks read.
var checkedPaths = []string{
	"authentication.anonymous.enabled",
	"authentication.webhook.enabled",
	"authentication.x509.clientCAFile",
	"authorization.mode",
	"readOnlyPort",
	"streamingConnectionIdleTimeout",
	"makeIPTablesUtilChains",
	"eventRecordQPS",
	"tlsCertFile",
	"tlsPrivateKeyFile",
	"rotateCertificates",
	"serverTLSBootstrap",
	"featureGates." + rotateServerCertGate,
	"tlsCipherSuites",
	"podPidsLimit",
	"seccompDefault",
	"--" + flagHostnameOverride,
	"--" + flagKubeconfig,
}

// Value formats the effective value of a checked path.
func (e *Effective) Value(p string) string {
	kc := &e.Config
	b := func(v *bool) string {
		if v == nil {
			return "false"
		}
		return strconv.FormatBool(*v)
	}
	switch p {
	case "authentication.anonymous.enabled":
		return b(kc.Authentication.Anonymous.Enabled)
	case "authentication.webhook.enabled":
		return b(kc.Authentication.Webhook.Enabled)
	case "authentication.x509.clientCAFile":
		return kc.Authentication.X509.ClientCAFile
	case "authorization.mode":
		return string(kc.Authorization.Mode)
	case "readOnlyPort":
		return strconv.Itoa(int(kc.ReadOnlyPort))
	case "streamingConnectionIdleTimeout":
		return kc.StreamingConnectionIdleTimeout.Duration.String()
	case "makeIPTablesUtilChains":
		return b(kc.MakeIPTablesUtilChains)
	case "eventRecordQPS":
		if kc.EventRecordQPS == nil {
			return "0"
		}
		return strconv.Itoa(int(*kc.EventRecordQPS))
	case "tlsCertFile":
		return kc.TLSCertFile
	case "tlsPrivateKeyFile":
		return kc.TLSPrivateKeyFile
	case "rotateCertificates":
		return strconv.FormatBool(kc.RotateCertificates)
	case "serverTLSBootstrap":
		return strconv.FormatBool(kc.ServerTLSBootstrap)
	case "featureGates." + rotateServerCertGate:
		return strconv.FormatBool(e.RotateServerCertGate())
	case "tlsCipherSuites":
		return strings.Join(kc.TLSCipherSuites, ",")
	case "podPidsLimit":
		if kc.PodPidsLimit == nil {
			return "-1"
		}
		return strconv.FormatInt(*kc.PodPidsLimit, 10)
	case "seccompDefault":
		return strconv.FormatBool(e.SeccompDefault())
	}
	if name, ok := strings.CutPrefix(p, "--"); ok {
		return e.Flags[name]
	}
	v, _ := e.rawField(p)
	return v
}

// SeccompDefault is the effective default seccomp setting: the kubelet ORs
// its --seccomp-default flag with the config field.
func (e *Effective) SeccompDefault() bool {
	if on, err := strconv.ParseBool(e.Flags[flagSeccompDefault]); err == nil && on {
		return true
	}
	return e.Config.SeccompDefault != nil && *e.Config.SeccompDefault
}

// RotateServerCertGate is the effective RotateKubeletServerCertificate gate.
func (e *Effective) RotateServerCertGate() bool {
	if v, ok := e.Config.FeatureGates[rotateServerCertGate]; ok {
		return v
	}
	if e.table == nil {
		return union().RotateServerCertGate
	}
	return e.table.RotateServerCertGate
}

func (e *Effective) rawField(p string) (string, bool) {
	data, err := json.Marshal(&e.Config)
	if err != nil {
		return "", false
	}
	v, ok := rawValue(data, p)
	if !ok {
		return "", false
	}
	if s, isStr := v.(string); isStr {
		return s, true
	}
	out, _ := json.Marshal(v)
	return string(out), true
}

// Fields lists the checked fields and every other non-zero value a file,
// drop-in or flag set, sorted by path. Defaults are modelled for the checked
// fields only, so other fields appear only when set to a non-zero value.
func (e *Effective) Fields() []Field {
	seen := map[string]bool{}
	var out []Field
	for _, p := range checkedPaths {
		seen[p] = true
		out = append(out, Field{Path: p, Value: e.Value(p), Source: e.Source(p), Checked: true})
	}
	for p, s := range e.Sources {
		if seen[p] {
			continue
		}
		var v string
		if name, isFlag := strings.CutPrefix(p, "--"); isFlag {
			v = e.Flags[name]
		} else if rv, ok := e.rawField(p); ok && rv != "0s" {
			v = rv
		} else {
			// Omitted from the typed form: a zero value, which the kubelet's
			// defaulting may replace (not modelled for unchecked fields), or
			// a field the kubelet does not know (reported as such).
			continue
		}
		out = append(out, Field{Path: p, Value: v, Source: s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// isNotExist reports a missing file behind a wrapped hostfs error.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// CheckedPaths lists the config paths and flags ("--name") the checks read.
func CheckedPaths() []string { return slices.Clone(checkedPaths) }
