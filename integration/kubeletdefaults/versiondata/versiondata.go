// Package versiondata is what ./dump prints about one kubelet version and
// ./render reads: the flag set and the defaults the kubelet probe uses.
package versiondata

import (
	"encoding/json"
	"time"
)

// Version is one kubelet version's data.
type Version struct {
	Version string          `json:"version"` // k8s.io/kubernetes module version, e.g. v1.37.2
	Flags   map[string]Flag `json:"flags"`
	// Config are the defaults with --config, Legacy those without.
	Config, Legacy Defaults
	// RotateServerCertGate is the RotateKubeletServerCertificate gate's default.
	RotateServerCertGate bool `json:"rotateServerCertGate"`
	// Cases are the kubelet's results for Cases, in order.
	Cases []Result `json:"cases"`
}

// Flag is one command-line flag.
type Flag struct {
	Bool       bool   `json:"bool,omitempty"` // takes no value (NoOptDefVal is set)
	Shorthand  string `json:"shorthand,omitempty"`
	Deprecated bool   `json:"deprecated,omitempty"`
}

// Defaults are the default values of the checked fields.
type Defaults struct {
	AnonymousAuth                  bool
	WebhookAuthn                   bool
	AuthorizationMode              string
	ReadOnlyPort                   int32
	EventRecordQPS                 int32
	StreamingConnectionIdleTimeout time.Duration
	PodPidsLimit                   int64
	MakeIPTablesUtilChains         bool
	SeccompDefault                 bool
	Address                        string
	Port                           int32
}

// Case is a kubelet command line, with the config file it names.
type Case struct {
	Name   string
	Config string // written to /etc/kubelet.yaml under the host root when not empty
	Args   []string
}

// Result is what the kubelet's own code makes of a Case: its effective
// configuration (v1beta1 JSON, with featureGates.RotateKubeletServerCertificate
// resolved and seccompDefault ORed with --seccomp-default) and the
// command-line-only flags the checks read.
type Result struct {
	Name   string            `json:"name"`
	Config json.RawMessage   `json:"config"`
	Flags  map[string]string `json:"flags"`
}

const typeMeta = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"

// Cases cover the defaults with and without --config, zero values the
// defaulting replaces, and flags over the file, for every checked field.
var Cases = []Case{
	{Name: "flags only, no flags"},
	{Name: "flags only, hardening flags", Args: []string{"--anonymous-auth=false", "--authorization-mode=Webhook",
		"--read-only-port", "0", "--pod-max-pids=100", "--seccomp-default", "--event-qps=0",
		"--streaming-connection-idle-timeout=0", "--make-iptables-util-chains=false", "--hostname-override=n1",
		"--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "--tls-cipher-suites", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
		"--feature-gates=RotateKubeletServerCertificate=false", "--rotate-certificates", "--rotate-server-certificates=true",
		"--client-ca-file=/ca.crt", "--tls-cert-file=/a.crt", "--tls-private-key-file=/a.key", "--kubeconfig=/k.conf"}},
	{Name: "config file with type meta only", Config: typeMeta, Args: []string{"--config=/etc/kubelet.yaml"}},
	{Name: "config file with zero values the kubelet defaults",
		Config: typeMeta + "streamingConnectionIdleTimeout: 0s\npodPidsLimit: -7\nreadOnlyPort: 0\nauthorization:\n  mode: \"\"\n",
		Args:   []string{"--config=/etc/kubelet.yaml"}},
	{Name: "config file overridden by flags",
		Config: typeMeta + "readOnlyPort: 0\nanonymous: {}\nauthentication:\n  anonymous:\n    enabled: false\nfeatureGates:\n  RotateKubeletServerCertificate: false\neventRecordQPS: 9\nseccompDefault: true\n",
		Args: []string{"--config", "/etc/kubelet.yaml", "--read-only-port=10255", "--anonymous-auth",
			"--streaming-connection-idle-timeout=0", "--feature-gates=RotateKubeletServerCertificate=true", "--event-qps=0", "--seccomp-default=false"}},
}
