package metricsauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// fileState identifies one version of a file. Kubernetes updates a mounted
// Secret by swapping a symlink, which changes the inode; an in-place rewrite
// changes mtime or size.
type fileState struct {
	dev, ino uint64
	mtime    time.Time
	size     int64
}

func statFile(path string) (fileState, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileState{}, err
	}
	s := fileState{mtime: fi.ModTime(), size: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino = uint64(st.Dev), st.Ino
	}
	return s, nil
}

// CertReloader serves the certificate in CertFile/KeyFile and reloads it on
// the first TLS handshake after either file changed, so a rotated certificate
// (cert-manager, a renewed Secret) is used without restarting the agent.
type CertReloader struct {
	certFile, keyFile string
	log               zerolog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	certState fileState
	keyState  fileState
}

// NewCertReloader loads the pair once; a pair that cannot be loaded at start
// is an error, later a broken update keeps the previous certificate.
func NewCertReloader(certFile, keyFile string, log zerolog.Logger) (*CertReloader, error) {
	r := &CertReloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *CertReloader) reload() error {
	cs, err := statFile(r.certFile)
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	ks, err := statFile(r.keyFile)
	if err != nil {
		return fmt.Errorf("TLS key: %w", err)
	}
	if r.cert != nil && cs == r.certState && ks == r.keyState {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s, key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.certState, r.keyState = &cert, cs, ks
	if leaf := cert.Leaf; leaf != nil {
		r.log.Info().Str("certFile", r.certFile).Str("serial", leaf.SerialNumber.String()).
			Time("notAfter", leaf.NotAfter).Msg("metrics TLS certificate loaded")
	}
	return nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.reload(); err != nil {
		// Mid-rotation the new certificate may be written before its key:
		// keep serving the last good pair until both match.
		r.log.Warn().Err(err).Msg("keeping the previous metrics TLS certificate")
	}
	return r.cert, nil
}

// SelfSigned makes an in-memory certificate for hosts (names or IPs), valid
// for a year. Nothing is written to disk: the agent's filesystem is read-only.
func SelfSigned(hosts []string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "nodeguard-metrics"},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// ServerTLS is the TLS configuration of the metrics endpoint.
func ServerTLS(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: getCert}
}
