// Package metricsauth proves `nodeguard run --metrics-auth=kubernetes` against
// a real kube-apiserver (integration/kubeenv), with the RBAC objects of
// manifests/rbac-metrics.yaml: the real agent binary delegates every scrape
// to TokenReview and SubjectAccessReview, serves HTTPS, and follows a rotated
// certificate.
package metricsauth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/nodeguard/nodeguard/integration/agentproc"
	"github.com/nodeguard/nodeguard/integration/kubeenv"
	"github.com/nodeguard/nodeguard/manifests"
)

const ns = "nodeguard"

// applyMetricsRBAC creates, as admin, the namespace, the agent's and the
// scraper's service accounts and the metrics RBAC of the kustomize build:
// exactly what `kubectl apply -k manifests/` would create for this feature.
func applyMetricsRBAC(t *testing.T, ctx context.Context, admin kubernetes.Interface) {
	t.Helper()
	docs, err := manifests.Build()
	if err != nil {
		t.Fatal(err)
	}
	decode := func(key string, into any) {
		t.Helper()
		y, ok := docs[key]
		if !ok {
			t.Fatalf("the kustomize build has no %s", key)
		}
		if err := yaml.UnmarshalStrict(y, into); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	}
	var nsObj corev1.Namespace
	decode("Namespace/nodeguard", &nsObj)
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &nsObj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nodeguard", "nodeguard-scraper"} {
		var sa corev1.ServiceAccount
		decode("ServiceAccount/"+name, &sa)
		if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &sa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"nodeguard-metrics-auth", "nodeguard-metrics-reader"} {
		var cr rbacv1.ClusterRole
		decode("ClusterRole/"+name, &cr)
		if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &cr, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var crb rbacv1.ClusterRoleBinding
		decode("ClusterRoleBinding/"+name, &crb)
		if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &crb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Someone with a valid token and no grant.
	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "nobody"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// token is a fresh TokenRequest token of a service account; each call gives a
// different token, so the agent's cache has never seen it.
func token(t *testing.T, ctx context.Context, admin kubernetes.Interface, sa string) string {
	t.Helper()
	exp := int64(3600)
	tr, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s: %v", sa, err)
	}
	return tr.Status.Token
}

// tokenKubeconfig is the admin kubeconfig's cluster with a bearer token: how
// the agent talks to the API server in a pod.
func tokenKubeconfig(t *testing.T, env *kubeenv.Env, tok string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(env.Admin)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AuthInfos = map[string]*clientcmdapi.AuthInfo{"agent": {Token: tok}}
	cfg.Contexts[cfg.CurrentContext].AuthInfo = "agent"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// ca issues serving certificates for 127.0.0.1.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "metrics-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &ca{cert: cert, key: key, pool: pool}
}

// writeServing writes a serving pair with the given serial into dir as
// tls.crt/tls.key, each renamed over the old file (as a Secret update does).
func (c *ca) writeServing(t *testing.T, dir string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "nodeguard"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"tls.key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})},
		{"tls.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})},
	} {
		tmp := filepath.Join(dir, f.name+".tmp")
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, f.name)); err != nil {
			t.Fatal(err)
		}
	}
}

// agent is a running `nodeguard run` serving HTTPS.
type agent struct {
	addr   string
	client *http.Client
	cmd    *exec.Cmd
	log    *agentproc.SyncBuffer
	done   chan struct{}
}

func startAgent(t *testing.T, bin string, roots *x509.CertPool, args ...string) *agent {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", agentproc.FreePort(t))
	full := append([]string{"run", "--listen", addr, "--no-kube", "--interval", "1h"}, args...)
	if agentproc.SupportsFlag(t, bin, "run", "no-bpf") {
		full = append(full, "--no-bpf") // runtime detection is not what is tested here
	}
	tlsCfg := &tls.Config{RootCAs: roots}
	if roots == nil {
		tlsCfg = &tls.Config{InsecureSkipVerify: true} // the agent's self-signed certificate
	}
	a := &agent{
		addr: addr, log: &agentproc.SyncBuffer{}, done: make(chan struct{}),
		// A new connection (and so a new handshake) per request: the
		// rotation check must see the certificate of the moment.
		client: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg, DisableKeepAlives: true}},
	}
	a.cmd = exec.Command(bin, full...)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") && !strings.HasPrefix(kv, "KUBERNETES_SERVICE_") {
			env = append(env, kv)
		}
	}
	a.cmd.Env = env
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = a.cmd.Wait()
		close(a.done)
	}()
	t.Cleanup(func() {
		select {
		case <-a.done:
			return
		default:
		}
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-a.done:
		case <-time.After(15 * time.Second):
			_ = a.cmd.Process.Kill()
			<-a.done
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		// /readyz answers without a token, and only after the first scan.
		code, _, _, err := a.get("/readyz", "")
		if err == nil && code == http.StatusOK {
			return a
		}
		select {
		case <-a.done:
			t.Fatalf("nodeguard run exited: %s", a.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodeguard run not ready over HTTPS within 90s (%d, %v)\n%s", code, err, a.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// get requests path with an optional bearer token; it returns the status,
// body and the serial of the certificate the agent presented.
func (a *agent) get(path, tok string) (int, string, *big.Int, error) {
	req, _ := http.NewRequest(http.MethodGet, "https://"+a.addr+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	var serial *big.Int
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		serial = resp.TLS.PeerCertificates[0].SerialNumber
	}
	return resp.StatusCode, string(b), serial, err
}

func (a *agent) expect(t *testing.T, what, path, tok string, want int) string {
	t.Helper()
	code, body, _, err := a.get(path, tok)
	if err != nil {
		t.Fatalf("%s: GET %s: %v\n%s", what, path, err, a.log.String())
	}
	if code != want {
		t.Errorf("%s: GET %s = %d %q, want %d", what, path, code, strings.TrimSpace(body), want)
	}
	return body
}

func TestMetricsOnlyForTokensAllowedByTheAPIServer(t *testing.T) {
	env := kubeenv.Start(t)
	bin := agentproc.Build(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	admin := env.Client(t, env.Admin)
	applyMetricsRBAC(t, ctx, admin)

	certDir := t.TempDir()
	authority := newCA(t)
	authority.writeServing(t, certDir, 1001)
	// TTLs far beyond the test: a cached decision must never expire in it.
	a := startAgent(t, bin, authority.pool,
		"--kubeconfig", tokenKubeconfig(t, env, token(t, ctx, admin, "nodeguard")),
		"--metrics-auth=kubernetes",
		"--metrics-tls-cert-file", filepath.Join(certDir, "tls.crt"),
		"--metrics-tls-key-file", filepath.Join(certDir, "tls.key"),
		"--metrics-auth-allow-ttl=1h", "--metrics-auth-deny-ttl=1h")

	a.expect(t, "kubelet probe", "/healthz", "", http.StatusOK)
	a.expect(t, "no token", "/metrics", "", http.StatusUnauthorized)
	a.expect(t, "not a token", "/metrics", "not-a-token", http.StatusUnauthorized)
	nobody := token(t, ctx, admin, "nobody")
	a.expect(t, "token without RBAC", "/metrics", nobody, http.StatusForbidden)
	scraper := token(t, ctx, admin, "nodeguard-scraper")
	body := a.expect(t, "scraper token", "/metrics", scraper, http.StatusOK)
	if !strings.Contains(body, "\nnodeguard_last_scan_timestamp_seconds ") {
		t.Errorf("scraper got /metrics without the scan metrics:\n%.2000s", body)
	}

	// Plain HTTP is not served at all.
	if resp, err := http.Get("http://" + a.addr + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP /metrics answered 200")
		}
	}

	// The certificate is reloaded when its files change.
	authority.writeServing(t, certDir, 1002)
	if _, _, serial, err := a.get("/healthz", ""); err != nil || serial == nil || serial.Int64() != 1002 {
		t.Errorf("after rotating the certificate files the agent presents serial %v (%v), want 1002", serial, err)
	}

	// Decisions are cached: revoking the grant does not affect a token seen
	// within the allow TTL, but a token the agent has not seen is refused.
	if err := admin.RbacV1().ClusterRoleBindings().Delete(ctx, "nodeguard-metrics-reader", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	a.expect(t, "cached grant after revocation", "/metrics", scraper, http.StatusOK)
	a.expect(t, "new scraper token after revocation", "/metrics", token(t, ctx, admin, "nodeguard-scraper"), http.StatusForbidden)
	// Likewise a denial: granting nobody later leaves its seen token refused.
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "nobody-reads-metrics"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "nodeguard-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "nobody", Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a.expect(t, "cached denial after a grant", "/metrics", nobody, http.StatusForbidden)
	nobody2 := token(t, ctx, admin, "nobody")
	a.expect(t, "new token after a grant", "/metrics", nobody2, http.StatusOK)

	// Without the API server nothing new is let in, and nothing fails open.
	fresh := token(t, ctx, admin, "nobody")
	env.StopAPIServer()
	a.expect(t, "API server down, new token", "/metrics", fresh, http.StatusServiceUnavailable)
	a.expect(t, "API server down, cached grant", "/metrics", nobody2, http.StatusOK)
	a.expect(t, "API server down, kubelet probe", "/healthz", "", http.StatusOK)
}

// The DaemonSet's default: --metrics-auth=kubernetes without certificate
// files serves HTTPS with a self-signed certificate.
func TestMetricsAuthSelfSignedByDefault(t *testing.T) {
	env := kubeenv.Start(t)
	bin := agentproc.Build(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin := env.Client(t, env.Admin)
	applyMetricsRBAC(t, ctx, admin)

	a := startAgent(t, bin, nil,
		"--kubeconfig", tokenKubeconfig(t, env, token(t, ctx, admin, "nodeguard")), "--metrics-auth=kubernetes")
	req, _ := http.NewRequest(http.MethodGet, "https://"+a.addr+"/metrics", nil)
	resp, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	if cn := resp.TLS.PeerCertificates[0].Subject.CommonName; cn != "nodeguard-metrics" {
		t.Errorf("certificate CN %q, want the agent's self-signed nodeguard-metrics", cn)
	}
	a.expect(t, "scraper token", "/metrics", token(t, ctx, admin, "nodeguard-scraper"), http.StatusOK)
}

// Without a Kubernetes API configuration the agent refuses to start rather
// than serve /metrics to anyone.
func TestMetricsAuthWithoutAPIRefusesToStart(t *testing.T) {
	bin := agentproc.Build(t, t.TempDir())
	cmd := exec.Command(bin, "run", "--listen", "127.0.0.1:0", "--no-kube", "--metrics-auth=kubernetes")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("--metrics-auth=kubernetes")) {
		t.Errorf("the error does not name --metrics-auth=kubernetes:\n%s", out)
	}
}
