package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binary is the light nodeguard, agentBinary the nodeguard-agent next to it.
var binary, agentBinary string

// TestMain builds the real binaries once, side by side as they are
// installed; the tests run them as users do.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nodeguard-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "nodeguard")
	agentBinary = filepath.Join(dir, "nodeguard-agent")
	for out, pkg := range map[string]string{binary: ".", agentBinary: "../nodeguard-agent"} {
		build := exec.Command("go", "build", "-o", out, pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, b)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const workerFixture = "../../probes/ports/testdata/worker"

func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runBinary(t, binary, args...)
}

func runBinary(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

func TestScanJSONSchema(t *testing.T) {
	out, errOut, code := run(t, "scan", "--host-root", workerFixture, "--only", "ports", "--output", "json", "--log-level", "error")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (the fixture has critical findings); stderr: %s", code, errOut)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"node", "role", "hostRoot", "scannedAt", "findings", "summary"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	var rep struct {
		Node, Role, RoleReason string
		Findings               []map[string]json.RawMessage
		Summary                map[string]int
	}
	json.Unmarshal([]byte(out), &rep)
	if rep.Node != "worker-node" || rep.Role != "worker" || rep.RoleReason == "" {
		t.Errorf("node %q role %q (%q)", rep.Node, rep.Role, rep.RoleReason)
	}
	want := []string{"evidence", "id", "message", "probe", "references", "remediation", "severity", "status", "title"}
	for _, f := range rep.Findings {
		var got []string
		for k := range f {
			got = append(got, k)
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("finding keys %v, want %v", got, want)
		}
	}
	for _, k := range []string{"pass", "fail", "error", "skip"} {
		if _, ok := rep.Summary[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
	if rep.Summary["fail"] != 7 || rep.Summary["pass"] != 8 {
		t.Errorf("summary %v", rep.Summary)
	}
}

func TestScanExitCodes(t *testing.T) {
	dir := t.TempDir()
	allowAll := filepath.Join(dir, "allow-all.yaml")
	os.WriteFile(allowAll, []byte("ports:\n  forbidden: []\n  allow:\n    - {description: everything, protocol: any, ports: 1-65535}\n"), 0o644)
	badField := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badField, []byte("ports:\n  allow:\n    - {protocol: tcp, ports: 80, adresses: [loopback]}\n"), 0o644)
	for _, c := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"scan", "--host-root", workerFixture, "--only", "ports"}, 1, ""},
		{[]string{"scan", "--host-root", workerFixture, "--only", "ports", "--fail-on", "critical"}, 1, ""},
		{[]string{"scan", "--host-root", workerFixture, "--only", "ports", "--policy", allowAll}, 0, ""},
		{[]string{"scan", "--host-root", workerFixture, "--only", "ports", "--policy", allowAll, "--fail-on", "low"}, 0, ""},
		{[]string{"scan", "--host-root", filepath.Join(dir, "missing")}, 2, "--host-root"},
		{[]string{"scan", "--host-root", workerFixture, "--policy", badField}, 2, `unknown field "adresses"`},
		{[]string{"scan", "--host-root", workerFixture, "--policy", filepath.Join(dir, "nope.yaml")}, 2, "no such file"},
		{[]string{"scan", "--host-root", workerFixture, "--only", "portz"}, 2, `unknown probe "portz"`},
		{[]string{"scan", "--output", "xml"}, 2, "--output"},
		{[]string{"scan", "--fail-on", "info"}, 2, "--fail-on"},
		{[]string{"scan", "--role", "master"}, 2, "--role"},
		{[]string{"scan", "--log-level", "chatty"}, 2, "--log-level"},
		{[]string{"scan", "stray"}, 2, "unexpected argument"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"version"}, 0, ""},
	} {
		_, stderr, code := run(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.stderr) {
			t.Errorf("%v: exit %d (want %d), stderr %q (want %q)", c.args, code, c.code, stderr, c.stderr)
		}
	}
}

func TestScanTableAndRole(t *testing.T) {
	out, _, _ := run(t, "scan", "--host-root", "../../probes/ports/testdata/control-plane", "--only", "ports", "--log-level", "error")
	for _, want := range []string{"role control-plane (static pod manifest /etc/kubernetes/manifests/kube-apiserver.yaml exists)",
		"fail    critical", "insecure", "pass, "} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = run(t, "scan", "--host-root", "../../probes/ports/testdata/control-plane", "--role", "worker", "--only", "ports", "--output", "json", "--log-level", "error")
	if !strings.Contains(out, `"roleReason":"--role flag"`) {
		t.Errorf("--role worker not reported as the reason:\n%s", out[:300])
	}
}

func freePort(t *testing.T) string { return freePortB(t) }

func freePortB(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(_ *testing.T, url string) (int, string) { return getB(url) }

func getB(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRunServesAndStopsOnSIGTERM runs the agent, waits for its first scan,
// reads its endpoints, and checks SIGTERM ends it cleanly within 5 s.
func TestRunServesAndStopsOnSIGTERM(t *testing.T) {
	addr := freePort(t)
	cmd := exec.Command(binary, "run", "--host-root", workerFixture, "--listen", addr, "--interval", "1s", "--log-level", "debug")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _ := get(t, base+"/readyz")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 20 s; stderr:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The light nodeguard hands run to nodeguard-agent in the same process.
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid)); exe != agentBinary {
		t.Errorf("pid %d runs %q, want %s", cmd.Process.Pid, exe, agentBinary)
	}
	if argv, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid)); !strings.HasPrefix(string(argv), "nodeguard-agent\x00run\x00--host-root\x00") {
		t.Errorf("pid %d's argv %q", cmd.Process.Pid, argv)
	}
	if code, body := get(t, base+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz %d %q", code, body)
	}
	code, metrics := get(t, base+"/metrics")
	for _, want := range []string{
		`nodeguard_listening_port{address="0.0.0.0",allowed="false",port="10255",process="kubelet",protocol="tcp",severity="critical"} 1`,
		"nodeguard_build_info{", "nodeguard_last_scan_timestamp_seconds ", `nodeguard_probe_duration_seconds{probe="ports"}`,
		`nodeguard_probe_errors_total{probe="ports"} 0`, "nodeguard_process_resident_memory_bytes",
	} {
		if code != 200 || !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The interval is 1 s: a second scan must follow.
	time.Sleep(1500 * time.Millisecond)
	_, metrics = get(t, base+"/metrics")
	if strings.Contains(metrics, "nodeguard_scans_total 1\n") {
		t.Error("no rescan after the interval")
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
		t.Logf("stopped %v after SIGTERM", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("still running 5 s after SIGTERM")
	}
	if !strings.Contains(stderr.String(), `"message":"nodeguard agent stopped"`) {
		t.Errorf("no JSON stop log line (JSON logs when stderr is not a terminal):\n%s", stderr.String())
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"run", "--interval", "10ms"}, "--interval"},
		{[]string{"run", "--listen", "256.0.0.1:99999"}, "--listen"},
		{[]string{"run", "--host-root", "/nonexistent-root"}, "--host-root"},
	} {
		_, stderr, code := run(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: exit %d stderr %q", c.args, code, stderr)
		}
	}
}

// TestUsageListsEveryCommand: the light nodeguard lists the agent's commands
// too, saying which executable runs them; nodeguard-agent has them all.
func TestUsageListsEveryCommand(t *testing.T) {
	_, light, code := run(t, "--help")
	if code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	_, full, _ := runBinary(t, agentBinary, "--help")
	for _, c := range []string{"kubelet", "report", "run", "scan", "sshd", "version", "watch"} {
		if !strings.Contains(light, "\n  "+c+" ") || !strings.Contains(full, "\n  "+c+" ") {
			t.Errorf("usage lacks %s:\n%s\n%s", c, light, full)
		}
	}
	for _, c := range []string{"run", "watch", "report"} {
		if !usageLine(light, c, "(nodeguard-agent)") {
			t.Errorf("nodeguard --help does not mark %s as nodeguard-agent's:\n%s", c, light)
		}
	}
	if strings.Contains(full, "(nodeguard-agent)") {
		t.Errorf("nodeguard-agent --help marks its own commands:\n%s", full)
	}
}

// usageLine reports whether usage has a line for command name ending in suffix.
func usageLine(usage, name, suffix string) bool {
	for _, l := range strings.Split(usage, "\n") {
		if strings.HasPrefix(l, "  "+name+" ") && strings.HasSuffix(l, suffix) {
			return true
		}
	}
	return false
}

// TestAgentHelpThroughLight: help for the agent's commands comes from
// nodeguard-agent, however it is asked for.
func TestAgentHelpThroughLight(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"help", "run"}, "-listen"},
		{[]string{"run", "-h"}, "-listen"},
		{[]string{"watch", "--help"}, "-json"},
		{[]string{"help", "report"}, "-kubeconfig"},
		{[]string{"help", "scan"}, "-only"},
	} {
		_, stderr, code := run(t, c.args...)
		if code != 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q", c.args, code, stderr)
		}
	}
}

// TestAgentMissing: without nodeguard-agent next to it (symlinks resolved),
// the light nodeguard says where it looked and exits 2.
func TestAgentMissing(t *testing.T) {
	data, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	alone := filepath.Join(dir, "nodeguard")
	if err := os.WriteFile(alone, data, 0o755); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "nodeguard-agent")
	_, stderr, code := runBinary(t, alone, "run", "--no-kube")
	if code != 2 || !strings.Contains(stderr, want+": not found") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("no agent: exit %d, stderr %q", code, stderr)
	}
	if err := os.WriteFile(want, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code = runBinary(t, alone, "watch"); code != 2 || !strings.Contains(stderr, want+": not an executable file") {
		t.Errorf("agent not executable: exit %d, stderr %q", code, stderr)
	}
	// A symlink to the installed nodeguard finds the agent next to the target.
	link := filepath.Join(t.TempDir(), "nodeguard")
	if err := os.Symlink(binary, link); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code = runBinary(t, link, "help", "run"); code != 0 || !strings.Contains(stderr, "-listen") {
		t.Errorf("through a symlink: exit %d, stderr %q", code, stderr)
	}
}
