package kubelet

import (
	"crypto/tls"
	_ "embed"
	"fmt"

	"github.com/nodeguard/nodeguard/probes/model/policy"
)

//go:embed policy.yaml
var defaultPolicy []byte

func init() {
	policy.Register(Name, defaultPolicy, func() any { return new(Policy) })
}

// Policy is the `kubelet` section of the policy file.
type Policy struct {
	// TLSCipherSuites are the suites the kubelet may be configured with
	// (Go / IANA names as the kubelet's --tls-cipher-suites takes them).
	TLSCipherSuites []string `json:"tlsCipherSuites"`
	// MinEventRecordQPS is the lowest acceptable eventRecordQPS; 0 (no
	// limit) is always accepted.
	MinEventRecordQPS int32 `json:"minEventRecordQPS"`
	// Stricter than CIS. RequireRotateCertificates fails 4.2.10 when
	// rotateCertificates is left unset (the kubelet's default is false);
	// the CIS text fails only an explicit false.
	RequireRotateCertificates bool `json:"requireRotateCertificates"`
	// RequireServerTLSBootstrap fails 4.2.11 unless serverTLSBootstrap is
	// true as well as the RotateKubeletServerCertificate gate (the gate alone
	// rotates nothing); the CIS text reads the gate only. kubeadm leaves
	// serverTLSBootstrap off.
	RequireServerTLSBootstrap bool `json:"requireServerTLSBootstrap"`
	// StrictFileModes judges each 4.1 file by its own mode, as the text's
	// `stat -c %a` audit does. Off, a directory on the file's path that no
	// one but root (or the file's owner) can search takes group and other
	// access away: kubeadm's 0644 config.yaml in its 0700 /var/lib/kubelet is
	// effectively 0600 and passes (docs/kube-bench.md, kube-bench #1598).
	StrictFileModes bool `json:"strictFileModes"`
}

// Validate rejects cipher names the kubelet would not accept.
func (p *Policy) Validate() error {
	for _, c := range p.TLSCipherSuites {
		if !knownCipher(c) {
			return fmt.Errorf("tlsCipherSuites: unknown cipher suite %q", c)
		}
	}
	if p.MinEventRecordQPS < 0 {
		return fmt.Errorf("minEventRecordQPS: %d is negative", p.MinEventRecordQPS)
	}
	return nil
}

// cipherAliases are the pre-RFC names that Go and the kubelet also accept.
var cipherAliases = map[string]bool{
	"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": true,
	"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305":   true,
}

func knownCipher(name string) bool {
	if cipherAliases[name] {
		return true
	}
	for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
		for _, c := range list {
			if c.Name == name {
				return true
			}
		}
	}
	return false
}
