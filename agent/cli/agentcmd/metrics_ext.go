package agentcmd

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/agent/kube"
	"github.com/nodeguard/nodeguard/agent/kube/apiclient"
	"github.com/nodeguard/nodeguard/agent/metricsauth"
	"github.com/nodeguard/nodeguard/agent/release"
	"github.com/nodeguard/nodeguard/agent/service"
)

// metricsFlags secure the metrics endpoint of `nodeguard run`.
type metricsFlags struct {
	certFile, keyFile string
	auth              string
	allowTTL, denyTTL time.Duration
	cacheSize         int
}

func (f *metricsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.certFile, "metrics-tls-cert-file", "", "serve HTTPS with this PEM certificate (chain); reloaded when the file changes")
	fs.StringVar(&f.keyFile, "metrics-tls-key-file", "", "the PEM private key of --metrics-tls-cert-file")
	fs.StringVar(&f.auth, "metrics-auth", "none", "who may read /metrics: none (anyone who can connect) or kubernetes (a bearer token the API server authenticates, whose user may get the non-resource URL /metrics; implies HTTPS, with a self-signed certificate unless --metrics-tls-cert-file is given)")
	fs.DurationVar(&f.allowTTL, "metrics-auth-allow-ttl", metricsauth.DefaultAllowTTL, "how long a granted token is remembered (--metrics-auth=kubernetes)")
	fs.DurationVar(&f.denyTTL, "metrics-auth-deny-ttl", metricsauth.DefaultDenyTTL, "how long a refused token is remembered (--metrics-auth=kubernetes)")
	fs.IntVar(&f.cacheSize, "metrics-auth-cache-size", metricsauth.DefaultCacheSize, "decisions remembered at most (--metrics-auth=kubernetes)")
}

// start secures the daemon's endpoints; kubeconfig is the API server to ask
// about tokens (--kubeconfig, else the pod's service account).
func (f *metricsFlags) start(d *service.Daemon, kubeconfig string, log zerolog.Logger) error {
	if (f.certFile == "") != (f.keyFile == "") {
		return errors.New("--metrics-tls-cert-file and --metrics-tls-key-file go together")
	}
	switch f.auth {
	case "none", "kubernetes":
	default:
		return fmt.Errorf("--metrics-auth %q: want none or kubernetes", f.auth)
	}
	switch {
	case f.allowTTL < 0 || f.denyTTL < 0:
		return errors.New("--metrics-auth-allow-ttl and --metrics-auth-deny-ttl must not be negative")
	case f.cacheSize < 1:
		return fmt.Errorf("--metrics-auth-cache-size %d: must be at least 1", f.cacheSize)
	}

	var getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	switch {
	case f.certFile != "":
		r, err := metricsauth.NewCertReloader(f.certFile, f.keyFile, log)
		if err != nil {
			return err
		}
		getCert = r.GetCertificate
	case f.auth == "kubernetes":
		// Bearer tokens never travel in clear text. Like kube-rbac-proxy,
		// fall back to a certificate made at start and kept in memory.
		host, _ := os.Hostname()
		cert, err := metricsauth.SelfSigned([]string{d.Scanner.Node, host, "localhost", "127.0.0.1"})
		if err != nil {
			return fmt.Errorf("self-signed metrics certificate: %w", err)
		}
		log.Info().Msg("no --metrics-tls-cert-file: serving HTTPS with a self-signed certificate")
		getCert = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }
	}
	if getCert != nil {
		d.TLS = metricsauth.ServerTLS(getCert)
	}
	if f.auth != "kubernetes" {
		return nil
	}
	// The API server that node conditions use (--kubeconfig, else the pod's
	// service account), even under --no-kube: failing open is not an option.
	cfg, err := kube.RESTConfig(kubeconfig)
	if err != nil {
		return fmt.Errorf("--metrics-auth=kubernetes: %w", err)
	}
	cfg.UserAgent = "nodeguard/" + release.Version
	client, err := apiclient.New(cfg)
	if err != nil {
		return err
	}
	auth := metricsauth.NewDelegating(client, f.cacheSize, log)
	auth.AllowTTL, auth.DenyTTL = f.allowTTL, f.denyTTL
	d.MetricsAuth = auth.Wrap
	log.Info().Str("host", cfg.Host).Msg("/metrics needs a bearer token allowed to get /metrics")
	return nil
}
