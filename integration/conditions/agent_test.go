package conditions

import (
	"context"
	"fmt"
	"github.com/nodeguard/nodeguard/integration/agentproc"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var agentBin struct {
	sync.Once
	path string
	err  error
}

// buildAgent compiles the real cmd/nodeguard and cmd/nodeguard-agent once
// per test binary, side by side as they are installed, and returns the path
// of nodeguard-agent: these tests run it directly (lightBinary is the
// nodeguard that executes it, as the DaemonSet's command line does).
func buildAgent(t testing.TB) string {
	t.Helper()
	agentBin.Do(func() {
		dir, err := os.MkdirTemp("", "nodeguard-kube-")
		if err != nil {
			agentBin.err = err
			return
		}
		agentBin.path = filepath.Join(dir, "nodeguard-agent")
		cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator),
			"github.com/nodeguard/nodeguard/cmd/nodeguard", "github.com/nodeguard/nodeguard/cmd/nodeguard-agent")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			agentBin.err = fmt.Errorf("go build ./cmd/nodeguard ./cmd/nodeguard-agent: %v\n%s", err, out)
		}
	})
	if agentBin.err != nil {
		t.Fatal(agentBin.err)
	}
	return agentBin.path
}

// lightBinary is the nodeguard next to the nodeguard-agent at bin.
func lightBinary(bin string) string { return filepath.Join(filepath.Dir(bin), "nodeguard") }

// agent is a running `nodeguard run`.
type agent struct {
	t    testing.TB
	addr string
	cmd  *exec.Cmd
	log  *agentproc.SyncBuffer
	done chan struct{}
}

func startAgent(t testing.TB, bin string, args ...string) *agent {
	t.Helper()
	return launchAgent(t, bin, false, args...)
}

// startAgentWithBPF runs the agent with eBPF runtime detection on.
func startAgentWithBPF(t testing.TB, bin string, args ...string) *agent {
	t.Helper()
	return launchAgent(t, bin, true, args...)
}

func launchAgent(t testing.TB, bin string, bpf bool, args ...string) *agent {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	full := append([]string{"run", "--listen", addr}, args...)
	if !bpf && agentproc.SupportsFlag(t, bin, "run", "no-bpf") {
		// Runtime detection is another feature; keep its probes out of these tests.
		full = append(full, "--no-bpf")
	}
	a := &agent{t: t, addr: addr, log: &agentproc.SyncBuffer{}, done: make(chan struct{})}
	a.cmd = exec.Command(bin, full...)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	a.cmd.Env = filterEnv("KUBECONFIG=", "NODE_NAME=")
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = a.cmd.Wait()
		close(a.done)
	}()
	t.Cleanup(a.stop)
	return a
}

func filterEnv(drop ...string) []string {
	var env []string
next:
	for _, kv := range os.Environ() {
		for _, d := range drop {
			if strings.HasPrefix(kv, d) {
				continue next
			}
		}
		env = append(env, kv)
	}
	return env
}

func (a *agent) exited() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

func (a *agent) stop() { agentproc.Terminate(a.cmd.Process, a.done, 15*time.Second) }

func (a *agent) get(path string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.addr+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// metric sums the samples of name whose labels include all of labels
// (`k="v"` pairs); -1 when there is none.
func metric(body, name string, labels ...string) float64 {
	sum, found := 0.0, false
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		series := line[:sp]
		ok := true
		for _, l := range labels {
			if !strings.Contains(series, l) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err == nil {
			sum, found = sum+v, true
		}
	}
	if !found {
		return -1
	}
	return sum
}

func (a *agent) metric(name string, labels ...string) float64 {
	code, body, err := a.get("/metrics")
	if err != nil || code != http.StatusOK {
		return -1
	}
	return metric(body, name, labels...)
}

// probesRan lists the probes the agent's metrics say ran.
func (a *agent) probesRan() map[string]bool {
	_, body, _ := a.get("/metrics")
	out := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "nodeguard_probe_duration_seconds{") {
			continue
		}
		if i := strings.Index(line, `probe="`); i >= 0 {
			rest := line[i+len(`probe="`):]
			out[rest[:strings.IndexByte(rest, '"')]] = true
		}
	}
	return out
}

// eventually polls cond until it holds, failing with its last explanation.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string), a ...*agent) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		for _, ag := range a {
			if ag.exited() {
				t.Fatalf("%s: the agent exited:\n%s", what, agentLines(ag.log.String()))
			}
		}
		if time.Now().After(deadline) {
			logs := ""
			for _, ag := range a {
				logs += "\nagent log:\n" + tailString(agentLines(ag.log.String()), 6000)
			}
			t.Fatalf("%s: not within %s: %s%s", what, timeout, why, logs)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// host is a fixture host root whose listening sockets the test controls.
type host struct{ dir string }

func newHost(t testing.TB) *host {
	t.Helper()
	h := &host{dir: t.TempDir()}
	for _, d := range []string{"proc/net", "etc"} {
		if err := os.MkdirAll(filepath.Join(h.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(h.dir, "etc/hostname"), []byte("fixture\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const udpHeader = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
	if err := os.WriteFile(filepath.Join(h.dir, "proc/net/udp"), []byte(udpHeader), 0o644); err != nil {
		t.Fatal(err)
	}
	return h
}

// listen makes the fixture's /proc/net/tcp show exactly these listeners on 0.0.0.0.
func (h *host) listen(t testing.TB, ports ...int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")
	for i, p := range ports {
		fmt.Fprintf(&b, "%4d: 00000000:%04X 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 100 0 0 10 0\n", i, p, 40000+p)
	}
	tmp := filepath.Join(h.dir, "proc/net/.tcp.tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(h.dir, "proc/net/tcp")); err != nil {
		t.Fatal(err)
	}
}

// agentLines drops the probes' complaints about the bare fixture host, to
// leave what the agent itself said.
func agentLines(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, `"probe":`) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
