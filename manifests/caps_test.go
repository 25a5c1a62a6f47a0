package manifests

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// startForeignListener runs a helper process as nobody (uid 65534) holding a
// listening socket, and returns its port and process name.
func startForeignListener(t *testing.T, setpriv string) (int, string) {
	t.Helper()
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	// The test binary's own directory is private to root.
	if err := os.Chmod(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	helper := filepath.Join(binDir, "ports-helper")
	if err := os.WriteFile(helper, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--", helper)
	cmd.Env = append(os.Environ(), listenerHelperEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("listener helper: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	port, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("listener helper printed %q", line)
	}
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/comm")
	if err != nil {
		t.Fatal(err)
	}
	return port, strings.TrimSpace(string(comm))
}

// scanOwner runs `nodeguard scan --only ports` as root with exactly the given
// capabilities (the bounding set limits what uid 0 gets at exec) and returns
// the process and executable the agent attributed the port to.
func scanOwner(t *testing.T, setpriv, bin string, caps []string, port int) (process, executable string) {
	t.Helper()
	bounding := "-all"
	for _, c := range caps {
		bounding += ",+" + strings.ToLower(c)
	}
	cmd := exec.Command(setpriv, "--bounding-set="+bounding, "--inh-caps=-all", "--no-new-privs", "--",
		bin, "scan", "--only", "ports", "--output", "json", "--role", "worker", "--log-level", "error")
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		t.Fatalf("scan with capabilities %v: %v\n%s", caps, err, out)
	}
	var rep struct {
		Findings []struct {
			ID       string            `json:"id"`
			Evidence map[string]string `json:"evidence"`
		} `json:"findings"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("scan output: %v\n%s", err, out)
	}
	for _, f := range rep.Findings {
		if f.ID == "ports.listener" && f.Evidence["port"] == strconv.Itoa(port) && f.Evidence["address"] == "127.0.0.1" {
			return f.Evidence["process"], f.Evidence["executable"]
		}
	}
	t.Fatalf("scan with capabilities %v did not report port %d; findings:\n%s", caps, port, out)
	return "", ""
}

func without(caps []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(caps), func(c string) bool { return slices.Contains(drop, c) })
}

// The capabilities the DaemonSet adds are enough to attribute another user's
// socket to its process and executable, and each one the comments justify
// for that is needed. With BPF and PERFMON the socket iterator finds the
// owner; SYS_PTRACE is still needed for its executable. Where the iterator
// cannot run (here: without BPF), the /proc/<pid>/fd walk needs both
// SYS_PTRACE and DAC_READ_SEARCH, as ss -p would.
func TestDaemonSetCapabilitiesAttributeSockets(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the agent runs as uid 0 with a reduced capability set")
	}
	setpriv := lookPath(t, "setpriv", "util-linux")
	ds := kustomizeBuild(t).get(t, "DaemonSet/nodeguard").(*appsv1.DaemonSet)
	var caps []string
	for _, c := range ds.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add {
		caps = append(caps, string(c))
	}
	for _, c := range []string{"BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH"} {
		if !slices.Contains(caps, c) {
			t.Fatalf("the DaemonSet does not add %s: %v", c, caps)
		}
	}
	bin := agentBinary(t)
	port, comm := startForeignListener(t, setpriv)
	exe := filepath.Join(binDir, "ports-helper")

	for _, c := range []struct {
		caps         []string
		process, exe string
		what         string
	}{
		{caps, comm, exe, "with the DaemonSet's capabilities"},
		{without(caps, "SYS_PTRACE"), comm, "", "with the iterator but without SYS_PTRACE (no executable)"},
		{without(caps, "BPF"), comm, exe, "without BPF (the /proc walk)"},
		{without(caps, "BPF", "SYS_PTRACE"), "", "", "without BPF and SYS_PTRACE"},
		{without(caps, "BPF", "DAC_READ_SEARCH"), "", "", "without BPF and DAC_READ_SEARCH"},
	} {
		process, executable := scanOwner(t, setpriv, bin, c.caps, port)
		if process != c.process || executable != c.exe {
			t.Errorf("%s %v: the port's process is %q (%q), want %q (%q)", c.what, c.caps, process, executable, c.process, c.exe)
		}
	}
}
