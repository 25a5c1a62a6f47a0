// Package readonly proves the agent's least-privilege claim on this host: the
// real binary, in a private mount namespace where every mount is read-only
// and the host is bind-mounted at /host-like path, holding only the
// capabilities the DaemonSet grants, finds what a full-root run finds, and
// strace sees it open nothing for writing and write to no file.
package readonly

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/nodeguard/nodeguard/integration/agentproc"
	"github.com/nodeguard/nodeguard/manifests"
)

// setupScript runs as root in a fresh private mount namespace: it binds the
// whole host tree at $HOST, keeps $OUT (the test's output directory) writable,
// makes every other mount read-only, then runs its arguments.
const setupScript = `set -eu
mount --rbind / "$HOST"
mount --bind "$OUT" "$OUT"
# mountinfo escapes blanks in paths as octal (\040).
for mp in $(awk '{print $5}' /proc/self/mountinfo); do
	mp=$(printf '%b' "$mp")
	[ "$mp" = "$OUT" ] && continue
	mount -o remount,bind,ro "$mp"
done
exec "$@"
`

// tracedSyscalls are every system call that can change a file: the file
// class (open*, creat, mkdir, unlink, rename, link, chmod, chown, utime,
// truncate, mknod, mount, setxattr...), those on open descriptors, and bpf
// (pinning an object writes to bpffs).
const tracedSyscalls = "%file,write,writev,pwrite64,pwritev,pwritev2,sendfile,copy_file_range,splice," +
	"ftruncate,fallocate,fchmod,fchown,fsetxattr,fremovexattr,bpf"

// mutating are system calls that modify the filesystem whatever their flags.
var mutating = map[string]bool{
	"mkdir": true, "mkdirat": true, "unlink": true, "unlinkat": true, "rmdir": true,
	"rename": true, "renameat": true, "renameat2": true, "link": true, "linkat": true,
	"symlink": true, "symlinkat": true, "chmod": true, "fchmod": true, "fchmodat": true, "fchmodat2": true,
	"chown": true, "lchown": true, "fchown": true, "fchownat": true, "utime": true, "utimes": true,
	"utimensat": true, "futimesat": true, "truncate": true, "ftruncate": true, "fallocate": true,
	"mknod": true, "mknodat": true, "creat": true, "mount": true, "umount2": true, "pivot_root": true,
	"setxattr": true, "lsetxattr": true, "fsetxattr": true, "removexattr": true, "lremovexattr": true,
	"fremovexattr": true, "copy_file_range": true, "swapon": true, "acct": true,
}

var (
	syscallLine = regexp.MustCompile(`^\d+\s+([a-z0-9_]+)\((.*)$`)
	writeOpen   = regexp.MustCompile(`O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND`)
	// The first argument of write(2) and friends, as strace -y prints it.
	fdArg = regexp.MustCompile(`^(\d+)<([^>]*)>`)
)

// violations lists the lines of an `strace -f -y` log that open a file for
// writing, change the filesystem, write to anything but a pipe, socket,
// anonymous inode (eventfd, epoll) or /dev/null, or pin a BPF object.
func violations(trace []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(trace))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		m := syscallLine.FindStringSubmatch(line)
		if m == nil {
			continue // "<... resumed>", exits, signals: the call was judged at its start
		}
		name, args := m[1], m[2]
		switch {
		case mutating[name]:
			out = append(out, line)
		case name == "open" || name == "openat" || name == "openat2":
			if writeOpen.MatchString(args) {
				out = append(out, line)
			}
		case name == "write" || name == "writev" || name == "pwrite64" || name == "pwritev" ||
			name == "pwritev2" || name == "sendfile" || name == "splice":
			target := args
			if name == "splice" {
				// splice(fd_in, off_in, fd_out, ...): judge fd_out.
				if parts := strings.SplitN(args, ", ", 4); len(parts) == 4 {
					target = parts[2]
				}
			}
			fd := fdArg.FindStringSubmatch(target)
			if fd == nil {
				out = append(out, line)
				continue
			}
			what := fd[2]
			if !strings.HasPrefix(what, "pipe:") && !strings.HasPrefix(what, "socket:") &&
				!strings.HasPrefix(what, "anon_inode:") && what != "/dev/null" {
				out = append(out, line)
			}
		case name == "bpf":
			if strings.HasPrefix(args, "BPF_OBJ_PIN") {
				out = append(out, line)
			}
		}
	}
	return out
}

type env struct {
	t        *testing.T
	bin      string
	host     string // the host's / as the agent sees it
	out      string // writable in the namespace
	caps     []string
	setpriv  string
	strace   string
	unshare  string
	capsMask uint64
}

// command runs args in a new read-only namespace. With reduced, the agent
// holds only the DaemonSet's capabilities (as uid 0 in a container: the
// bounding set limits what exec grants, nothing inheritable, no_new_privs);
// with trace, strace records its file system calls into traceFile.
func (e *env) command(reduced bool, traceFile string, args ...string) *exec.Cmd {
	argv := []string{"--mount", "--propagation", "private", "--", "sh", "-c", setupScript, "setup"}
	if traceFile != "" {
		argv = append(argv, e.strace, "-f", "-qq", "-y", "-s", "32", "--seccomp-bpf", "-e", "trace="+tracedSyscalls, "-o", traceFile, "--")
	}
	if reduced {
		bounding := "-all"
		for _, c := range e.caps {
			bounding += ",+" + strings.ToLower(c)
		}
		argv = append(argv, e.setpriv, "--bounding-set="+bounding, "--inh-caps=-all", "--no-new-privs", "--")
	}
	argv = append(argv, args...)
	cmd := exec.Command(e.unshare, argv...)
	cmd.Env = append(os.Environ(), "HOST="+e.host, "OUT="+e.out)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

func lookPath(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (Debian package %s)", name, pkg)
	}
	return p
}

// capNumbers are the capabilities a DaemonSet may add, by their Kubernetes
// names.
var capNumbers = map[string]int{
	"BPF": unix.CAP_BPF, "PERFMON": unix.CAP_PERFMON, "SYS_PTRACE": unix.CAP_SYS_PTRACE,
	"DAC_READ_SEARCH": unix.CAP_DAC_READ_SEARCH, "NET_ADMIN": unix.CAP_NET_ADMIN, "SYS_ADMIN": unix.CAP_SYS_ADMIN,
	"SYS_RESOURCE": unix.CAP_SYS_RESOURCE, "DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE,
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: mount namespaces, and uid 0 with a reduced capability set as in the DaemonSet")
	}
	e := &env{
		t: t, unshare: lookPath(t, "unshare", "util-linux"), setpriv: lookPath(t, "setpriv", "util-linux"),
		strace: lookPath(t, "strace", "strace"),
	}
	lookPath(t, "awk", "mawk")
	docs, err := manifests.Build()
	if err != nil {
		t.Fatal(err)
	}
	var ds appsv1.DaemonSet
	if err := yaml.Unmarshal(docs["DaemonSet/nodeguard"], &ds); err != nil {
		t.Fatal(err)
	}
	for _, c := range ds.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add {
		n, ok := capNumbers[string(c)]
		if !ok {
			t.Fatalf("the DaemonSet adds %s, which this test does not know", c)
		}
		e.caps = append(e.caps, string(c))
		e.capsMask |= 1 << n
	}
	work := t.TempDir()
	// The test binary's temporary directory is private to root; the agent
	// runs as root too, so that is no obstacle.
	e.host, e.out = filepath.Join(work, "host"), filepath.Join(work, "out")
	for _, d := range []string{e.host, e.out} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	e.bin = agentproc.Build(t, work)
	return e
}

// The namespace really is read-only but for the output directory, and the
// trace check really catches a write: otherwise the test below proves nothing.
func TestNamespaceIsReadOnlyAndTraceCatchesWrites(t *testing.T) {
	e := newEnv(t)
	for _, target := range []string{filepath.Join(e.host, "etc", "nodeguard-was-here"), filepath.Join(os.TempDir(), "nodeguard-was-here")} {
		out, err := e.command(false, "", "touch", target).CombinedOutput()
		if err == nil {
			os.Remove(target)
			t.Errorf("touch %s succeeded in the namespace", target)
		} else if !strings.Contains(string(out), "Read-only file system") {
			t.Errorf("touch %s: %v %s, want EROFS", target, err, out)
		}
	}
	trace := filepath.Join(e.out, "touch.trace")
	if out, err := e.command(false, trace, "sh", "-c", `echo x > "$OUT/written"; touch "$OUT/touched"`).CombinedOutput(); err != nil {
		t.Fatalf("writing to $OUT: %v %s", err, out)
	}
	data, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	v := strings.Join(violations(data), "\n")
	for _, want := range []string{"/written", "/touched"} {
		if !strings.Contains(v, want) {
			t.Errorf("the trace check misses the write to %s; it flagged:\n%s", want, v)
		}
	}
}

type report struct {
	Findings []struct {
		ID       string            `json:"id"`
		Probe    string            `json:"probe"`
		Status   string            `json:"status"`
		Message  string            `json:"message"`
		Evidence map[string]string `json:"evidence"`
	} `json:"findings"`
	Probes []struct {
		Name   string `json:"name"`
		Errors int    `json:"errors"`
	} `json:"probes"`
}

func (e *env) scan(reduced bool, traceFile string) report {
	e.t.Helper()
	cmd := e.command(reduced, traceFile, e.bin, "scan", "--host-root", e.host, "--output", "json", "--log-level", "error")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		e.t.Fatalf("scan (reduced %v): %v\n%s", reduced, err, stderr.String())
	}
	var r report
	if err := json.Unmarshal(out, &r); err != nil {
		e.t.Fatalf("scan (reduced %v) output: %v\n%.2000s", reduced, err, out)
	}
	return r
}

// The key of a finding that does not depend on the process table: ports
// findings change with every listener another test opens or closes, and the
// binaries probe's messages count the executables of running processes,
// among them the test binaries of the packages go test runs meanwhile.
func stableKeys(r report) []string {
	var out []string
	for _, f := range r.Findings {
		switch f.Probe {
		case "ports":
			continue
		case "binaries":
			out = append(out, f.Probe+" "+f.ID+" "+f.Status)
			continue
		}
		out = append(out, f.Probe+" "+f.ID+" "+f.Status+" "+f.Message)
	}
	slices.Sort(out)
	return out
}

func TestScanWithDaemonSetCapabilitiesReadOnly(t *testing.T) {
	e := newEnv(t)
	full := e.scan(false, "")
	trace := filepath.Join(e.out, "scan.trace")
	reduced := e.scan(true, trace)

	errs := map[string]bool{}
	for _, f := range full.Findings {
		if f.Status == "error" {
			errs[f.ID+" "+f.Message] = true
		}
	}
	for _, f := range reduced.Findings {
		if f.Status == "error" && !errs[f.ID+" "+f.Message] {
			t.Errorf("only with the DaemonSet's capabilities: %s: %s", f.ID, f.Message)
		}
	}
	if got, want := stableKeys(reduced), stableKeys(full); !slices.Equal(got, want) {
		t.Errorf("findings differ from a full-root run:\nreduced:\n  %s\nfull root:\n  %s",
			strings.Join(diff(got, want), "\n  "), strings.Join(diff(want, got), "\n  "))
	}
	if len(reduced.Probes) != len(full.Probes) || len(reduced.Probes) == 0 {
		t.Errorf("%d probes ran with the DaemonSet's capabilities, %d as full root", len(reduced.Probes), len(full.Probes))
	}
	// Socket owners: the same process for every listener both runs saw.
	owners := map[string]string{}
	for _, f := range full.Findings {
		if f.ID == "ports.listener" {
			owners[f.Evidence["inode"]] = f.Evidence["process"]
		}
	}
	compared := 0
	for _, f := range reduced.Findings {
		if want, ok := owners[f.Evidence["inode"]]; ok && f.ID == "ports.listener" {
			compared++
			if f.Evidence["process"] != want {
				t.Errorf("listener %s:%s: process %q, full root %q", f.Evidence["address"], f.Evidence["port"], f.Evidence["process"], want)
			}
		}
	}
	t.Logf("%d findings, %d listeners compared, %d probes", len(reduced.Findings), compared, len(reduced.Probes))
	checkTrace(t, trace, e.host)
}

func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// checkTrace fails on every write strace saw, and makes sure it saw the agent
// read the host through the bind mount at all.
func checkTrace(t *testing.T, trace, host string) {
	t.Helper()
	data, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range violations(data) {
		t.Errorf("write: %s", v)
	}
	if !bytes.Contains(data, []byte(`"`+host+`/`)) && !bytes.Contains(data, []byte(`<`+host+`/`)) {
		t.Errorf("the trace (%d bytes) shows no access under %s: was the agent traced?", len(data), host)
	}
}

// agent is a `nodeguard run` in the namespace.
type agent struct {
	cmd    *exec.Cmd
	addr   string
	log    bytes.Buffer
	exited chan struct{}
}

func (e *env) startRun(reduced bool, traceFile string) *agent {
	e.t.Helper()
	a := &agent{addr: fmt.Sprintf("127.0.0.1:%d", agentproc.FreePort(e.t)), exited: make(chan struct{})}
	a.cmd = e.command(reduced, traceFile, e.bin, "run", "--host-root", e.host, "--listen", a.addr,
		"--no-kube", "--interval", "1h", "--log-level", "info")
	a.cmd.Stdout, a.cmd.Stderr = &a.log, &a.log
	if err := a.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		_ = a.cmd.Wait()
		close(a.exited)
	}()
	e.t.Cleanup(func() {
		_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
		<-a.exited
	})
	return a
}

func (a *agent) get(path string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.addr+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReady waits for /readyz (the first scan done and, unless --no-bpf, the
// eBPF detector running) and returns /metrics.
func (a *agent) waitReady(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, body := a.get("/readyz")
		if code == http.StatusOK {
			_, m := a.get("/metrics")
			return m
		}
		select {
		case <-a.exited:
			t.Fatalf("nodeguard run exited: %s", a.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodeguard run not ready within 90s: %d %s", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pid finds the agent process (under strace and setpriv, not a child of
// ours) by its command line: bin's, or nodeguard-agent's once bin (the light
// nodeguard) has executed it for run.
func (a *agent) pid(t *testing.T, bin string) int {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if (args[0] == bin || args[0] == "nodeguard-agent") && slices.Contains(args, a.addr) {
			pid, _ := strconv.Atoi(filepath.Base(d))
			return pid
		}
	}
	t.Fatalf("no process %s serving %s", bin, a.addr)
	return 0
}

// stop ends the agent with SIGTERM, as the kubelet does, and waits.
func (a *agent) stop(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("agent still running 30s after SIGTERM: %s", a.log.String())
	}
}

// series returns the lines of a metric family.
func series(metrics, name string) []string {
	var out []string
	for _, l := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(l, name+"{") || strings.HasPrefix(l, name+" ") {
			out = append(out, l)
		}
	}
	return out
}

func TestRunWithDaemonSetCapabilitiesReadOnly(t *testing.T) {
	e := newEnv(t)
	full := e.startRun(false, "")
	fullMetrics := full.waitReady(t)
	full.stop(t, full.pid(t, e.bin))

	trace := filepath.Join(e.out, "run.trace")
	a := e.startRun(true, trace)
	metrics := a.waitReady(t)
	pid := a.pid(t, e.bin)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"CapPrm", "CapEff", "CapBnd"} {
		re := regexp.MustCompile(`(?m)^` + field + `:\s+([0-9a-f]+)$`)
		m := re.FindSubmatch(status)
		if m == nil {
			t.Fatalf("no %s in /proc/%d/status", field, pid)
		}
		if got, _ := strconv.ParseUint(string(m[1]), 16, 64); got != e.capsMask {
			t.Errorf("%s %016x, want %016x (%v)", field, got, e.capsMask, e.caps)
		}
	}
	if !bytes.Contains(status, []byte("\nNoNewPrivs:\t1\n")) {
		t.Error("no_new_privs is not set")
	}
	a.stop(t, pid)

	for _, name := range []string{"nodeguard_bpf_rule_active", "nodeguard_probe_errors_total"} {
		got, want := series(metrics, name), series(fullMetrics, name)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s with the DaemonSet's capabilities:\n  %s\nas full root:\n  %s", name, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
	rules := series(metrics, "nodeguard_bpf_rule_active")
	active := 0
	for _, r := range rules {
		if strings.HasSuffix(r, " 1") {
			active++
		}
	}
	t.Logf("%d of %d eBPF rules active with the DaemonSet's capabilities", active, len(rules))
	checkTrace(t, trace, e.host)
}
