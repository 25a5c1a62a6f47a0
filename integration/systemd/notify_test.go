package systemd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodeguard/nodeguard/integration/agentproc"
)

// waitFor bounds every wait on the agent; it is a deadline against hangs, not
// a performance figure.
const waitFor = 90 * time.Second

// notifySocket is a datagram socket standing in for systemd's
// /run/systemd/notify: every sd_notify message arrives on msgs.
type notifySocket struct {
	path string
	msgs chan string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	// sun_path holds 108 bytes; t.TempDir() names can be longer.
	dir, err := os.MkdirTemp("", "ngsd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	n := &notifySocket{path: path, msgs: make(chan string, 1024)}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				close(n.msgs)
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	return n
}

// next returns the next message, failing the test after waitFor.
func (n *notifySocket) next(t *testing.T, agent *agentRun, what string) string {
	t.Helper()
	var exited chan struct{} // nil: the agent's exit is expected, keep reading
	if agent.running() {
		exited = agent.exited
	}
	select {
	case m, ok := <-n.msgs:
		if !ok {
			t.Fatalf("notify socket closed while waiting for %s", what)
		}
		return m
	case <-exited:
		t.Fatalf("nodeguard run exited (%v) while waiting for %s\n%s", agent.err, what, agent.out.String())
	case <-time.After(waitFor):
		t.Fatalf("no %s within %s\n%s", what, waitFor, agent.out.String())
	}
	return ""
}

type agentRun struct {
	cmd    *exec.Cmd
	addr   string
	out    *agentproc.SyncBuffer
	exited chan struct{}
	err    error
}

// startAgent runs the real `nodeguard run` with the given extra environment,
// as systemd would start it from the unit. One scan an hour: the test is about
// the first scan and the watchdog, not rescans.
func startAgent(t *testing.T, wrap []string, env ...string) *agentRun {
	t.Helper()
	bin := agentBinary(t)
	a := &agentRun{addr: fmt.Sprintf("127.0.0.1:%d", agentproc.FreePort(t)), out: &agentproc.SyncBuffer{}, exited: make(chan struct{})}
	args := append(append([]string{}, wrap...), bin, "run", "--host-root", "/", "--no-kube", "--listen", a.addr, "--interval", "1h", "--log-level", "info")
	a.cmd = exec.Command(args[0], args[1:]...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") && !strings.HasPrefix(kv, "NODE_NAME=") &&
			!strings.HasPrefix(kv, "NOTIFY_SOCKET=") && !strings.HasPrefix(kv, "WATCHDOG_") {
			a.cmd.Env = append(a.cmd.Env, kv)
		}
	}
	a.cmd.Env = append(a.cmd.Env, env...)
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		a.err = a.cmd.Wait()
		close(a.exited)
	}()
	t.Cleanup(func() {
		_ = a.cmd.Process.Kill()
		<-a.exited
	})
	return a
}

// running reports whether the process has not exited yet.
func (a *agentRun) running() bool {
	select {
	case <-a.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, as systemctl stop does, and returns the exit error.
func (a *agentRun) stop(t *testing.T) error {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.exited:
		return a.err
	case <-time.After(waitFor):
		t.Fatalf("nodeguard run did not stop on SIGTERM\n%s", a.out.String())
	}
	return nil
}

func (a *agentRun) metrics(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestNotifyReadyAndWatchdog: STATUS while the first scan runs, READY=1 once
// it is on /metrics, watchdog pings after that, STOPPING=1 on SIGTERM.
func TestNotifyReadyAndWatchdog(t *testing.T) {
	sock := listenNotify(t)
	// 400ms: the agent pings every 200ms.
	a := startAgent(t, nil, "NOTIFY_SOCKET="+sock.path, "WATCHDOG_USEC=400000")

	if m := sock.next(t, a, "the first STATUS"); m != "STATUS=first scan running" {
		t.Fatalf("first message %q, want the STATUS of a running first scan", m)
	}
	for {
		m := sock.next(t, a, "READY=1")
		if m == "WATCHDOG=1" {
			continue // the first scan may outlast a ping period
		}
		lines := strings.Split(m, "\n")
		if lines[0] != "READY=1" {
			t.Fatalf("message %q before READY=1", m)
		}
		if len(lines) != 2 || !strings.HasPrefix(lines[1], "STATUS=last scan ") || !strings.Contains(lines[1], " fail, ") {
			t.Fatalf("READY message %q: want READY=1 and the scan's STATUS", m)
		}
		break
	}
	// READY promises the scan is published.
	if body := a.metrics(t); !strings.Contains(body, "\nnodeguard_last_scan_timestamp_seconds ") {
		t.Fatalf("READY=1 sent before the first scan reached /metrics:\n%s", body)
	}
	// A rescan the eBPF detector triggers (a new listener) may add a STATUS.
	for pings := 0; pings < 3; {
		switch m := sock.next(t, a, fmt.Sprintf("watchdog ping %d", pings+1)); {
		case m == "WATCHDOG=1":
			pings++
		case strings.HasPrefix(m, "STATUS=last scan "):
		default:
			t.Fatalf("after READY=1, got %q, want WATCHDOG=1 or a scan's STATUS", m)
		}
	}
	if err := a.stop(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, a.out.String())
	}
	// Pings may still be queued ahead of STOPPING=1; the agent has exited,
	// so whatever it sent is already in the socket.
	for {
		m := sock.next(t, a, "STOPPING=1")
		if strings.HasPrefix(m, "STOPPING=1") {
			break
		}
		if m != "WATCHDOG=1" && !strings.HasPrefix(m, "STATUS=last scan ") {
			t.Fatalf("unexpected message %q while stopping", m)
		}
	}
}

// TestNotifyWithoutWatchdog: READY still comes when systemd wants no
// watchdog, and no ping is sent at all.
func TestNotifyWithoutWatchdog(t *testing.T) {
	sock := listenNotify(t)
	a := startAgent(t, nil, "NOTIFY_SOCKET="+sock.path)
	if m := sock.next(t, a, "the first STATUS"); m != "STATUS=first scan running" {
		t.Fatalf("first message %q", m)
	}
	if m := sock.next(t, a, "READY=1"); !strings.HasPrefix(m, "READY=1\nSTATUS=last scan ") {
		t.Fatalf("got %q, want READY=1 with a STATUS", m)
	}
	if err := a.stop(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, a.out.String())
	}
	for {
		m := sock.next(t, a, "STOPPING=1")
		if strings.HasPrefix(m, "STOPPING=1") {
			break
		}
		if !strings.HasPrefix(m, "STATUS=last scan ") {
			t.Fatalf("got %q, want STOPPING=1 and no watchdog ping", m)
		}
	}
}

// TestNotifyBadWatchdogUsec: a WATCHDOG_USEC the agent cannot honour is a
// startup error (exit 2), not an agent that systemd later kills for silence.
func TestNotifyBadWatchdogUsec(t *testing.T) {
	sock := listenNotify(t)
	a := startAgent(t, nil, "NOTIFY_SOCKET="+sock.path, "WATCHDOG_USEC=soon")
	select {
	case <-a.exited:
	case <-time.After(waitFor):
		t.Fatal("agent kept running with WATCHDOG_USEC=soon")
	}
	var exit *exec.ExitError
	if !errors.As(a.err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("exit %v, want status 2\n%s", a.err, a.out.String())
	}
	if !strings.Contains(a.out.String(), "WATCHDOG_USEC") {
		t.Fatalf("the error does not name WATCHDOG_USEC:\n%s", a.out.String())
	}
}
