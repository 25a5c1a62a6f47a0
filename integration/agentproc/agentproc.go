// Package agentproc builds the real nodeguard binaries and runs `nodeguard run`
// on a loopback port for tests that need a live agent (the dashboard and rule
// metric checks, the end-to-end paging test).
package agentproc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles cmd/nodeguard and cmd/nodeguard-agent into dir, side by
// side as they are installed, and returns the path of nodeguard: `nodeguard
// run` is the deployed command line, which executes nodeguard-agent (whose
// name the port policy allows for the agent's own endpoint, like nodeguard's).
// When NODEGUARD_BIN is set, that binary and the nodeguard-agent next to it
// are copied instead, so CI can reuse one build.
func Build(t testing.TB, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "nodeguard")
	if bin := os.Getenv("NODEGUARD_BIN"); bin != "" {
		for src, dst := range map[string]string{bin: out, filepath.Join(filepath.Dir(bin), "nodeguard-agent"): AgentPath(out)} {
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatalf("NODEGUARD_BIN: %v", err)
			}
			if err := os.WriteFile(dst, data, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator),
		"github.com/nodeguard/nodeguard/cmd/nodeguard", "github.com/nodeguard/nodeguard/cmd/nodeguard-agent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/nodeguard ./cmd/nodeguard-agent: %v\n%s", err, b)
	}
	return out
}

// AgentPath is the nodeguard-agent that the nodeguard at bin executes.
func AgentPath(bin string) string { return filepath.Join(filepath.Dir(bin), "nodeguard-agent") }

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Agent is a running `nodeguard run`.
type Agent struct {
	Addr   string // host:port of /metrics
	cmd    *exec.Cmd
	stderr *SyncBuffer
	exited chan struct{} // closed when the process has been waited for
	err    error         // its exit status, once exited is closed
}

// Start runs `nodeguard run` with --listen on a free loopback port and the
// extra args, and waits until its first scan is published. Without a
// kubeconfig the agent has no API server to talk to: the kube extension, when
// built in, is turned off with --no-kube (unless args name a --kubeconfig) so
// its absence does not mark the agent degraded.
func Start(t testing.TB, bin string, args ...string) *Agent {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	full := append([]string{"run", "--listen", addr}, args...)
	if SupportsFlag(t, bin, "run", "no-kube") && !slices.Contains(args, "--kubeconfig") {
		full = append(full, "--no-kube")
	}
	a := &Agent{Addr: addr, stderr: &SyncBuffer{}, exited: make(chan struct{})}
	a.cmd = exec.Command(bin, full...)
	a.cmd.Stderr = a.stderr
	a.cmd.Stdout = a.stderr
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") && !strings.HasPrefix(kv, "NODE_NAME=") {
			env = append(env, kv)
		}
	}
	a.cmd.Env = env
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		a.err = a.cmd.Wait()
		close(a.exited)
	}()
	t.Cleanup(a.Stop)

	deadline := time.Now().Add(60 * time.Second)
	for {
		body, err := a.Metrics()
		if err == nil && strings.Contains(body, "\nnodeguard_last_scan_timestamp_seconds ") {
			return a
		}
		select {
		case <-a.exited:
			t.Fatalf("nodeguard run exited before its first scan: %v\n%s", a.err, a.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodeguard run published no scan within 60s (last error: %v)\n%s", err, a.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Metrics fetches /metrics.
func (a *Agent) Metrics() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.Addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return string(b), nil
}

// Log is what the agent wrote so far.
func (a *Agent) Log() string { return a.stderr.String() }

// Stop ends the agent with SIGTERM (SIGKILL after 10s) and waits for it.
func (a *Agent) Stop() { Terminate(a.cmd.Process, a.exited, 10*time.Second) }

// Terminate ends a child process that closes exited when it is gone: SIGTERM,
// then SIGKILL if it is still there after grace. It returns once it is gone.
func Terminate(p *os.Process, exited <-chan struct{}, grace time.Duration) {
	select {
	case <-exited:
		return
	default:
	}
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = p.Kill()
		<-exited
	}
}

// SupportsFlag reports whether `bin sub -h` lists -flag.
func SupportsFlag(t testing.TB, bin, sub, flag string) bool {
	t.Helper()
	out, _ := exec.Command(bin, sub, "-h").CombinedOutput()
	return bytes.Contains(out, []byte("-"+flag+" ")) || bytes.Contains(out, []byte("-"+flag+"\n"))
}

// SyncBuffer collects a child process's output while tests read it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
