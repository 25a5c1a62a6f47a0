// Package paging proves the SRE path end to end: a real `nodeguard run` is
// scraped by a real Prometheus evaluating the shipped rules file, which sends
// to a real Alertmanager, which pages a webhook receiver run by the test.
package paging

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nodeguard/nodeguard/integration/agentproc"
)

const nodeName = "paging-test-node"

// The kubelet's read-only port: forbidden on every node by the built-in
// ports policy, so it pages with finding severity critical.
const forbiddenPort = 10255

func TestUnexpectedPortPagesAndResolves(t *testing.T) {
	prometheus := tool(t, "/usr/bin/prometheus", "prometheus")
	alertmanager := tool(t, "/usr/bin/prometheus-alertmanager", "prometheus-alertmanager")
	dir := t.TempDir()
	bin := agentproc.Build(t, dir)

	hook := newWebhook(t)

	agent := agentproc.Start(t, bin, "--interval", "1s", "--role", "worker", "--log-level", "warn")

	amAddr := fmt.Sprintf("127.0.0.1:%d", agentproc.FreePort(t))
	amConfig := writeFile(t, dir, "alertmanager.yml", fmt.Sprintf(`
route:
  receiver: test-webhook
  # One notification per alert, so the test reads its own port's page.
  group_by: ['...']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test-webhook
    webhook_configs:
      - url: %s
        send_resolved: true
`, hook.URL))
	startProcess(t, dir, "alertmanager", alertmanager,
		"--config.file="+amConfig,
		"--storage.path="+filepath.Join(dir, "am-data"),
		"--web.listen-address="+amAddr,
		// No HA gossip: it would open a port on every interface.
		"--cluster.listen-address=",
	)
	waitHTTP(t, "http://"+amAddr+"/-/ready")

	rules, err := filepath.Abs(filepath.Join(repoRoot(t), "manifests", "alerts", "nodeguard.rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	promAddr := fmt.Sprintf("127.0.0.1:%d", agentproc.FreePort(t))
	promConfig := writeFile(t, dir, "prometheus.yml", fmt.Sprintf(`
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %s
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%q]
scrape_configs:
  - job_name: nodeguard
    static_configs:
      - targets: [%q]
        # What the ServiceMonitor's relabeling adds in a cluster.
        labels:
          node: %s
`, rules, amAddr, agent.Addr, nodeName))
	startProcess(t, dir, "prometheus", prometheus,
		"--config.file="+promConfig,
		"--storage.tsdb.path="+filepath.Join(dir, "prom-data"),
		"--web.listen-address="+promAddr,
	)
	waitHTTP(t, "http://"+promAddr+"/-/ready")

	// The unexpected listener, on every interface, owned by this test.
	l, port := listenForbidden(t)
	opened := time.Now()
	comm := selfComm(t)
	t.Logf("listening on 0.0.0.0:%d as process %q", port, comm)

	isOurs := func(a alert) bool {
		return a.Labels["alertname"] == "NodeguardUnexpectedOpenPort" && a.Labels["port"] == strconv.Itoa(port)
	}
	page := hook.await(t, 2*time.Minute, func(a alert) bool { return isOurs(a) && a.Status == "firing" },
		func() string { return diagnostics(agent, promAddr) })
	t.Logf("page delivered %s after the port opened", time.Since(opened).Round(time.Millisecond))
	want := map[string]string{
		"severity": "critical", "node": nodeName, "job": "nodeguard", "instance": agent.Addr,
		"protocol": "tcp", "address": "0.0.0.0", "port": strconv.Itoa(port), "process": comm, "allowed": "false",
	}
	for k, v := range want {
		if page.Labels[k] != v {
			t.Errorf("page label %s=%q, want %q (all labels: %v)", k, page.Labels[k], v, page.Labels)
		}
	}
	for _, s := range []string{strconv.Itoa(port), comm, nodeName, "0.0.0.0"} {
		if !strings.Contains(page.Annotations["description"], s) {
			t.Errorf("page description %q does not mention %q", page.Annotations["description"], s)
		}
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	closed := time.Now()
	hook.await(t, 2*time.Minute, func(a alert) bool { return isOurs(a) && a.Status == "resolved" },
		func() string { return diagnostics(agent, promAddr) })
	t.Logf("resolved notification delivered %s after the port closed", time.Since(closed).Round(time.Millisecond))
}

// tool finds a binary of a Debian package; absent, the test skips outside CI
// and fails in CI, which must install it.
func tool(t *testing.T, path, pkg string) string {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if p, err := exec.LookPath(filepath.Base(path)); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found: install the Debian package %s", path, pkg)
	}
	t.Skipf("%s not found (Debian package %s)", path, pkg)
	return ""
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// startProcess runs a server until the test ends; its output goes to a log
// file that is shown if the test fails.
func startProcess(t *testing.T, dir, name, bin string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log:\n%s", name, tail(string(b), 4000))
		}
	})
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 60s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// listenForbidden opens the kubelet read-only port on all interfaces; when
// something already holds it, any free port outside the NodePort range (which
// the policy allows) does: unexpected ports page too.
func listenForbidden(t *testing.T) (net.Listener, int) {
	t.Helper()
	if l, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", forbiddenPort)); err == nil {
		t.Cleanup(func() { l.Close() })
		return l, forbiddenPort
	}
	for range 20 {
		l, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if port >= 30000 && port <= 32767 {
			l.Close()
			continue
		}
		t.Cleanup(func() { l.Close() })
		return l, port
	}
	t.Fatal("no free port outside the NodePort range")
	return nil, 0
}

// selfComm is the process name the agent reports for this test's sockets.
func selfComm(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// alert is one alert of an Alertmanager webhook notification (version 4).
type alert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type notification struct {
	Version string  `json:"version"`
	Status  string  `json:"status"`
	Alerts  []alert `json:"alerts"`
}

type webhook struct {
	*httptest.Server
	mu       sync.Mutex
	received []alert
	notify   chan struct{}
}

func newWebhook(t *testing.T) *webhook {
	w := &webhook{notify: make(chan struct{}, 1)}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var n notification
		if err == nil {
			err = json.Unmarshal(body, &n)
		}
		if err != nil || n.Version != "4" {
			t.Errorf("webhook: bad notification (%v): %s", err, body)
			rw.WriteHeader(http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		w.received = append(w.received, n.Alerts...)
		w.mu.Unlock()
		select {
		case w.notify <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(w.Close)
	return w
}

// await returns the first received alert matching want, failing the test
// with diagnostics when none arrives in time.
func (w *webhook) await(t *testing.T, timeout time.Duration, want func(alert) bool, diag func() string) alert {
	t.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		for _, a := range w.received {
			if want(a) {
				w.mu.Unlock()
				return a
			}
		}
		seen := len(w.received)
		w.mu.Unlock()
		select {
		case <-w.notify:
		case <-time.After(500 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no matching notification within %s (%d alerts received)\n%s", timeout, seen, diag())
		}
	}
}

func diagnostics(a *agentproc.Agent, promAddr string) string {
	var b strings.Builder
	if m, err := a.Metrics(); err == nil {
		for line := range strings.Lines(m) {
			if strings.HasPrefix(line, "nodeguard_listening_port") {
				b.WriteString(line)
			}
		}
	} else {
		fmt.Fprintf(&b, "agent /metrics: %v\n", err)
	}
	if resp, err := http.Get("http://" + promAddr + "/api/v1/alerts"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(&b, "prometheus alerts: %s\n", tail(string(body), 3000))
	}
	fmt.Fprintf(&b, "agent log: %s\n", tail(a.Log(), 3000))
	return b.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
