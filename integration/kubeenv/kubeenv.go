// Package kubeenv runs a real control plane for integration tests: etcd and
// kube-apiserver built from source by build.sh, on loopback ports, with a
// freshly generated PKI. Clients authenticate with client certificates, so a
// test can mint a kubeconfig for any user and groups and let RBAC decide.
package kubeenv

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/nodeguard/nodeguard/integration/agentproc"
)

// KubeVersion is the release build.sh builds by default; it matches the
// client-go minor of go.mod.
const KubeVersion = "v1.37.2"

var buildOnce struct {
	sync.Once
	dir string
	err error
}

// Binaries returns the directory holding kube-apiserver and etcd. It looks
// in $NODEGUARD_KUBE_ASSETS, then build.sh's cache. When they are missing the
// test is skipped, except under CI=true, where build.sh builds them (the first
// build takes 10-20 minutes).
func Binaries(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("NODEGUARD_KUBE_ASSETS"); dir != "" {
		if !haveBinaries(dir) {
			t.Fatalf("NODEGUARD_KUBE_ASSETS=%s lacks kube-apiserver or etcd", dir)
		}
		return dir
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(home, ".cache", "nodeguard", "kube-"+KubeVersion)
	if haveBinaries(dir) {
		return dir
	}
	if os.Getenv("CI") != "true" {
		t.Skipf("kube-apiserver and etcd are not built (%s); run integration/kubeenv/build.sh once (10-20 min), or set CI=true to build them here", dir)
	}
	buildOnce.Do(func() {
		_, self, _, _ := runtime.Caller(0)
		script := filepath.Join(filepath.Dir(self), "build.sh")
		cmd := exec.Command("bash", script)
		cmd.Env = append(os.Environ(), "KUBE_VERSION="+KubeVersion)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			buildOnce.err = fmt.Errorf("%s: %v\n%s", script, err, tail(stderr.String(), 4000))
			return
		}
		buildOnce.dir = strings.TrimSpace(string(out))
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.dir
}

func haveBinaries(dir string) bool {
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if st, err := os.Stat(filepath.Join(dir, b)); err != nil || st.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// Env is a running etcd and kube-apiserver.
type Env struct {
	Host string // https://127.0.0.1:port
	// Admin is a system:masters kubeconfig.
	Admin string
	// EtcdURL is etcd's client URL (plain HTTP on loopback): its /metrics
	// has the database size.
	EtcdURL string

	t         testing.TB
	dir       string
	bin       string
	ca        *issuer
	etcd      *proc
	apiserver *proc
	apiArgs   []string
}

// Options change how Start runs the control plane.
type Options struct {
	// APIServerArgs are added to kube-apiserver's flags (--name=value),
	// replacing a default of the same name.
	APIServerArgs []string
	// ServingIPs are extra IP addresses in the API server's certificate
	// (e.g. the kubernetes Service's ClusterIP, for in-cluster clients).
	ServingIPs []net.IP
	// Bin is the directory holding the binaries (default: Binaries).
	Bin string
	// KubeletClient gives the API server a client certificate for kubelets
	// (exec, logs), signed by the CA the kubelets trust.
	KubeletClient bool
}

// Start runs etcd and kube-apiserver until the test ends.
func Start(t testing.TB) *Env {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, o Options) *Env {
	t.Helper()
	bin := o.Bin
	if bin == "" {
		bin = Binaries(t)
	}
	dir, err := os.MkdirTemp("", "kubeenv-")
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{t: t, dir: dir, bin: bin}
	t.Cleanup(e.stop)

	e.ca = newIssuer(t, "kubeenv-ca")
	writeFile(t, filepath.Join(dir, "ca.crt"), e.ca.certPEM)
	servingCert, servingKey := e.ca.issue(t, "kube-apiserver", nil, true, o.ServingIPs...)
	writeFile(t, filepath.Join(dir, "apiserver.crt"), servingCert)
	writeFile(t, filepath.Join(dir, "apiserver.key"), servingKey)
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sa.key"), keyPEM(t, saKey))

	ports := freePorts(t, 3)
	clientPort, peerPort, apiPort := ports[0], ports[1], ports[2]
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	e.etcd = startProc(t, filepath.Join(bin, "etcd"), filepath.Join(dir, "etcd.log"),
		"--name=kubeenv", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubeenv="+peerURL, "--unsafe-no-fsync", "--log-level=warn")

	// kube-apiserver gives up when etcd does not answer within its own
	// timeout, which a loaded CI machine (several suites starting clusters at
	// once) can exceed: start it only once etcd is healthy.
	waitForEtcd(t, e.etcd, etcdURL)
	e.EtcdURL = etcdURL

	e.Host = "https://127.0.0.1:" + strconv.Itoa(apiPort)
	e.apiArgs = []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--cert-dir=" + filepath.Join(dir, "certs"),
		"--tls-cert-file=" + filepath.Join(dir, "apiserver.crt"),
		"--tls-private-key-file=" + filepath.Join(dir, "apiserver.key"),
		"--client-ca-file=" + filepath.Join(dir, "ca.crt"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + filepath.Join(dir, "sa.key"),
		"--service-account-signing-key-file=" + filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/24",
		"--allow-privileged=true",
		// The kubernetes Service endpoint must not be loopback; no Service is needed here.
		"--endpoint-reconciler-type=none",
	}
	if o.KubeletClient {
		cert, key := e.ClientCert(t, "kube-apiserver-kubelet-client", "system:masters")
		o.APIServerArgs = append(o.APIServerArgs, "--kubelet-client-certificate="+cert, "--kubelet-client-key="+key)
	}
	for _, a := range o.APIServerArgs {
		// Replace a default flag rather than repeat it: list flags such as
		// --authorization-mode would append.
		flag, _, _ := strings.Cut(a, "=")
		e.apiArgs = slices.DeleteFunc(e.apiArgs, func(d string) bool { return strings.HasPrefix(d, flag+"=") })
		e.apiArgs = append(e.apiArgs, a)
	}
	e.Admin = e.Kubeconfig(t, "kubeenv-admin", "system:masters")
	e.StartAPIServer(t)
	return e
}

// StartAPIServer starts kube-apiserver (again, after StopAPIServer) on the
// same port and waits until it is ready; a no-op while it runs. t is the
// (sub)test calling, which a failure ends.
func (e *Env) StartAPIServer(t testing.TB) {
	t.Helper()
	if e.apiserver != nil {
		return
	}
	e.apiserver = startProc(t, filepath.Join(e.bin, "kube-apiserver"), filepath.Join(e.dir, "apiserver.log"), e.apiArgs...)
	client := e.Client(t, e.Admin)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		cancel()
		if err == nil && strings.TrimSpace(string(body)) == "ok" {
			break
		}
		if e.apiserver.exited() {
			t.Fatalf("kube-apiserver exited: %s", e.apiserver.logTail())
		}
		if time.Now().After(deadline) {
			t.Fatalf("kube-apiserver not ready after 2m (%v): %s", err, e.apiserver.logTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The "default" namespace (where Events about cluster-scoped objects go)
	// is created by a controller shortly after readiness.
	for time.Now().Before(deadline) {
		if _, err := client.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("namespace default never appeared")
}

// StopAPIServer stops kube-apiserver (etcd keeps the state).
func (e *Env) StopAPIServer() {
	if e.apiserver != nil {
		e.apiserver.stop()
		e.apiserver = nil
	}
}

// APIServerLog is the end of kube-apiserver's log, for failure messages.
func (e *Env) APIServerLog() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "apiserver.log"))
	return tail(string(b), 4000)
}

func (e *Env) stop() {
	e.StopAPIServer()
	if e.etcd != nil {
		e.etcd.stop()
	}
	if !e.t.Failed() {
		os.RemoveAll(e.dir)
	} else {
		e.t.Logf("kubeenv files kept in %s", e.dir)
	}
}

// Kubeconfig writes a kubeconfig authenticating as user in groups (a client
// certificate signed by the cluster CA) and returns its path.
func (e *Env) Kubeconfig(t testing.TB, user string, groups ...string) string {
	t.Helper()
	return e.kubeconfig(t, e.ca, user, groups)
}

// Path is the path of a file of the environment: ca.crt, sa.key (the
// service account signing key), apiserver.log, ...
func (e *Env) Path(name string) string { return filepath.Join(e.dir, name) }

// ClientCert writes a client certificate and key for user in groups, signed
// by the cluster CA, and returns their paths.
func (e *Env) ClientCert(t testing.TB, user string, groups ...string) (certFile, keyFile string) {
	t.Helper()
	cert, key := e.ca.issue(t, user, groups, false)
	name := strings.NewReplacer(":", "_", "/", "_").Replace(user)
	certFile, keyFile = e.Path(name+".crt"), e.Path(name+".key")
	writeFile(t, certFile, cert)
	writeFile(t, keyFile, key)
	return certFile, keyFile
}

// UntrustedKubeconfig is like Kubeconfig but its certificate comes from a CA
// the API server does not trust: every request is 401 Unauthorized.
func (e *Env) UntrustedKubeconfig(t testing.TB, user string) string {
	t.Helper()
	return e.kubeconfig(t, newIssuer(t, "rogue-ca"), user, nil)
}

func (e *Env) kubeconfig(t testing.TB, ca *issuer, user string, groups []string) string {
	cert, key := ca.issue(t, user, groups, false)
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubeenv"] = &clientcmdapi.Cluster{Server: e.Host, CertificateAuthorityData: e.ca.certPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	cfg.Contexts["kubeenv"] = &clientcmdapi.Context{Cluster: "kubeenv", AuthInfo: user}
	cfg.CurrentContext = "kubeenv"
	name := strings.NewReplacer(":", "_", "/", "_").Replace(user)
	path := filepath.Join(e.dir, fmt.Sprintf("kubeconfig-%s-%d", name, time.Now().UnixNano()))
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// RESTConfig loads a kubeconfig.
func (e *Env) RESTConfig(t testing.TB, kubeconfig string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	cfg.Timeout = 10 * time.Second
	return cfg
}

// Client is a clientset for a kubeconfig.
func (e *Env) Client(t testing.TB, kubeconfig string) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(e.RESTConfig(t, kubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Metrics is the API server's own /metrics, read as admin.
func (e *Env) Metrics(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := e.Client(t, e.Admin).Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	return string(b)
}

// proc is a child process whose output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startProc(t testing.TB, bin, logPath string, args ...string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{name: filepath.Base(bin), log: logPath, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	// Own process group, and killed with the test binary if it dies first.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		_ = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p
}

func waitForEtcd(t testing.TB, etcd *proc, url string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		resp, err := client.Get(url + "/health")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"health":"true"`) {
				return
			}
			err = fmt.Errorf("%s: %s", resp.Status, body)
		}
		if etcd.exited() {
			t.Fatalf("etcd exited: %s", etcd.logTail())
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd not healthy after 2m (%v): %s", err, etcd.logTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) stop() { agentproc.Terminate(p.cmd.Process, p.done, 20*time.Second) }

func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.log)
	return tail(string(b), 4000)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// freePorts returns n distinct loopback ports that were free a moment ago
// (held open together so the kernel cannot hand out one twice).
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// issuer is a CA.
type issuer struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

func newIssuer(t testing.TB, name string) *issuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &issuer{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a serving certificate for 127.0.0.1/localhost, or a client
// certificate whose CN is the user name and O the groups (how the API server
// authenticates x509 clients).
func (ca *issuer) issue(t testing.TB, cn string, groups []string, serving bool, ips ...net.IP) (certPEM, keyOut []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: cn, Organization: groups},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if serving {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = append([]net.IP{net.ParseIP("127.0.0.1")}, ips...)
		tmpl.DNSNames = []string{"localhost", "kubernetes", "kubernetes.default.svc"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM(t, key)
}

func keyPEM(t testing.TB, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
