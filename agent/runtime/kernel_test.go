package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/nodeguard/nodeguard/agent/hostfs"
	"github.com/nodeguard/nodeguard/agent/policy"
	"github.com/nodeguard/nodeguard/probes"
)

// These tests load the real programs into this kernel and trigger each rule
// it supports with a real process.

func TestMain(m *testing.M) {
	if v := os.Getenv("NODEGUARD_PTRACE_HELPER"); v != "" {
		os.Exit(ptraceHelper(v))
	}
	if v := os.Getenv("NODEGUARD_STORM_HELPER"); v != "" {
		os.Exit(stormHelper(v))
	}
	os.Exit(m.Run())
}

// ptraceHelper attaches to pid, waits for it to stop, and detaches.
func ptraceHelper(v string) int {
	pid, err := strconv.Atoi(v)
	if err != nil {
		return 2
	}
	goruntime.LockOSThread()
	if err := unix.PtraceAttach(pid); err != nil {
		fmt.Fprintln(os.Stderr, "PTRACE_ATTACH:", err)
		return 1
	}
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil)
	unix.PtraceDetach(pid)
	return 0
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loading BPF programs needs root")
	}
}

func startDetector(t testing.TB, o Options) *Detector {
	t.Helper()
	needRoot(t)
	root, err := hostfs.Open("/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	if o.Policy == nil {
		o.Policy = policy.Default()
	}
	o.Root = root
	o.Role = func() probes.Role { return probes.Worker }
	o.Log = zerolog.New(io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	d, err := Start(ctx, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// waitFor returns the first event matching pred, or fails after a timeout
// long enough for a loaded CI machine (events arrive within the poll
// interval).
func waitFor(t *testing.T, ch <-chan Event, what string, pred func(*Event) bool) Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("%s: event channel closed", what)
			}
			if pred(&ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("%s: no event within 10s", what)
		}
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func tmpDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "nodeguard-runtime-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}

func TestRulesOnThisKernel(t *testing.T) {
	d := startDetector(t, Options{})
	for _, h := range d.Hooks() {
		t.Logf("hook %s: attached=%q err=%v", h.Name, h.Attached, h.Err)
	}
	status := map[Rule]RuleStatus{}
	for _, st := range d.Rules() {
		status[st.Rule] = st
	}
	requireActive := func(t *testing.T, r Rule) {
		t.Helper()
		if !status[r].Active {
			t.Fatalf("%s is not active: %s", r, status[r].Reason)
		}
	}
	ch, cancel := d.Subscribe(4096)
	defer cancel()

	t.Run("unexpected-listener", func(t *testing.T) {
		requireActive(t, UnexpectedListener)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		ev := waitFor(t, ch, "listener", func(e *Event) bool {
			return e.Rule == "unexpected-listener" && e.Details["port"] == port && e.PID == uint32(os.Getpid())
		})
		if ev.Details["address"] != "127.0.0.1" || ev.Severity == "" {
			t.Errorf("listener event: %+v", ev)
		}
	})

	t.Run("exec-from-writable-dir", func(t *testing.T) {
		requireActive(t, ExecFromWritableDir)
		bin := filepath.Join(tmpDir(t), "true-copy")
		copyFile(t, "/bin/true", bin, 0o755)
		run(t, bin, "--first-arg", "second")
		ev := waitFor(t, ch, "exec", func(e *Event) bool { return e.Rule == "exec-from-writable-dir" && e.Path == bin })
		if ev.Comm != "true-copy" || len(ev.Args) != 3 || ev.Args[1] != "--first-arg" || ev.PPID != uint32(os.Getpid()) {
			t.Errorf("exec event: %+v", ev)
		}
		if len(ev.Ancestors) == 0 || ev.Ancestors[0].PID != uint32(os.Getpid()) {
			t.Errorf("ancestors: %+v", ev.Ancestors)
		}
	})

	t.Run("exec-memfd", func(t *testing.T) {
		requireActive(t, ExecFromWritableDir)
		fd, err := unix.MemfdCreate("nodeguard-test", 0)
		if err != nil {
			t.Skipf("memfd_create: %v", err)
		}
		f := os.NewFile(uintptr(fd), "memfd")
		defer f.Close()
		b, _ := os.ReadFile("/bin/true")
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
		run(t, fmt.Sprintf("/proc/self/fd/%d", fd))
		waitFor(t, ch, "memfd exec", func(e *Event) bool {
			return e.Rule == "exec-from-writable-dir" && e.Details["memfd"] == "true" && strings.Contains(e.Path, "nodeguard-test")
		})
	})

	t.Run("exec-deleted", func(t *testing.T) {
		requireActive(t, ExecFromWritableDir)
		// Outside the writable directories, so only "deleted" can match.
		dir, err := os.MkdirTemp("/var/lib", "nodeguard-test-")
		if err != nil {
			t.Skip(err)
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "gone")
		copyFile(t, "/bin/true", bin, 0o755)
		f, err := os.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		os.Remove(bin)
		cmd := &exec.Cmd{Path: "/proc/self/fd/3", Args: []string{"gone"}, ExtraFiles: []*os.File{f}}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("exec of a deleted file: %v %s", err, out)
		}
		waitFor(t, ch, "deleted exec", func(e *Event) bool {
			return e.Rule == "exec-from-writable-dir" && e.Details["deleted"] == "true" && e.Path == bin+" (deleted)"
		})
	})

	t.Run("ptrace-attach", func(t *testing.T) {
		requireActive(t, PtraceAttach)
		child := exec.Command("sleep", "30")
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		defer child.Process.Kill()
		pid := child.Process.Pid
		// The detector ignores its own process, so a helper attaches.
		helper := exec.Command(os.Args[0], "-test.run=^$")
		helper.Env = append(os.Environ(), "NODEGUARD_PTRACE_HELPER="+strconv.Itoa(pid))
		if out, err := helper.CombinedOutput(); err != nil {
			t.Fatalf("ptrace helper: %v %s", err, out)
		}
		ev := waitFor(t, ch, "ptrace", func(e *Event) bool {
			return e.Rule == "ptrace-attach" && e.Details["target_pid"] == strconv.Itoa(pid)
		})
		if ev.Details["request"] != "PTRACE_ATTACH" || ev.Details["target_comm"] != "sleep" || ev.Syscall != "ptrace" {
			t.Errorf("ptrace event: %+v", ev)
		}
	})

	t.Run("sensitive-file-write", func(t *testing.T) {
		requireActive(t, SensitiveFileWrite)
		// A private mount namespace with a tmpfs over /etc: the host's
		// /etc/shadow is never touched.
		run(t, "unshare", "-m", "--propagation", "private", "sh", "-c",
			"mount -t tmpfs nodeguard-test /etc && echo test > /etc/shadow")
		ev := waitFor(t, ch, "sensitive write", func(e *Event) bool {
			return e.Rule == "sensitive-file-write" && e.Path == "/etc/shadow" && e.Comm == "sh"
		})
		if ev.Syscall != "openat" && ev.Syscall != "open" {
			t.Errorf("syscall %q", ev.Syscall)
		}
	})

	t.Run("setuid-root", func(t *testing.T) {
		requireActive(t, SetuidRoot)
		dir := tmpDir(t)
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// In a private mount namespace: a tmpfs that allows setuid, a
		// setuid-root copy of true, run as nobody.
		script := fmt.Sprintf(`mount -t tmpfs -o mode=755,suid nodeguard-test %[1]s &&
cp /bin/true %[1]s/suid-helper && chmod 4755 %[1]s/suid-helper &&
setpriv --reuid=65534 --regid=65534 --clear-groups %[1]s/suid-helper`, dir)
		run(t, "unshare", "-m", "--propagation", "private", "sh", "-c", script)
		ev := waitFor(t, ch, "setuid exec", func(e *Event) bool {
			return e.Rule == "setuid-root" && e.Comm == "suid-helper"
		})
		if ev.UID != 65534 || ev.EUID != 0 || ev.Details["via"] != "setuid-root binary" {
			t.Errorf("setuid event: %+v", ev)
		}
	})

	t.Run("bpf-load", func(t *testing.T) {
		requireActive(t, BPFLoad)
		// The agent's own loads are not events, so another process makes
		// one: bpftool probing program types loads programs.
		if _, err := exec.LookPath("bpftool"); err != nil {
			t.Skip("bpftool is not installed")
		}
		run(t, "bpftool", "feature", "probe", "kernel", "macros")
		waitFor(t, ch, "bpf", func(e *Event) bool { return e.Rule == "bpf-load" && e.Comm == "bpftool" })
	})

	t.Run("in-container", func(t *testing.T) {
		requireActive(t, ShellInContainer)
		cg, id := containerCgroup(t)
		procs := filepath.Join(cg, "cgroup.procs")
		inCgroup := func(cmd string) {
			run(t, "sh", "-c", fmt.Sprintf("echo $$ > %s && exec %s", procs, cmd))
		}
		inCgroup(`/bin/dash -c "exit 0"`)
		ev := waitFor(t, ch, "shell", func(e *Event) bool { return e.Rule == "shell-in-container" && e.ContainerID == id })
		if ev.Runtime != "containerd" || !strings.HasPrefix(ev.Cgroup, "cri-containerd-") || ev.CgroupID == 0 {
			t.Errorf("shell event: %+v", ev)
		}
		inCgroup("dpkg --version")
		waitFor(t, ch, "package manager", func(e *Event) bool {
			return e.Rule == "package-manager-in-container" && e.ContainerID == id && e.Comm == "dpkg"
		})
		inCgroup("unshare -U true")
		ev = waitFor(t, ch, "unshare", func(e *Event) bool {
			return e.Rule == "namespace-escape" && e.ContainerID == id
		})
		if ev.Syscall != "unshare" {
			t.Errorf("namespace event: %+v", ev)
		}
	})

	t.Run("kernel-module-load", func(t *testing.T) {
		st := status[KernelModuleLoad]
		if _, err := os.Stat("/proc/modules"); err == nil {
			t.Skip("this kernel supports modules; loading one is not something a test should do")
		}
		if st.Active || !strings.Contains(st.Reason, "unsupported") {
			t.Errorf("kernel-module-load on a kernel without modules: %+v", st)
		}
	})

	lost, err := d.Lost()
	if err != nil {
		t.Fatal(err)
	}
	for prog, n := range lost {
		if n != 0 {
			t.Errorf("program %s lost %d events", prog, n)
		}
	}
}

// containerCgroup makes a kubepods-style cgroup v2 hierarchy, mounting a
// private cgroup2 when the host has none, and removes it afterwards.
func containerCgroup(t *testing.T) (dir, id string) {
	t.Helper()
	base := "/sys/fs/cgroup/unified"
	var st unix.Statfs_t
	if err := unix.Statfs(base, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		base = "/sys/fs/cgroup"
		if err := unix.Statfs(base, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
			mnt := tmpDir(t)
			if err := unix.Mount("none", mnt, "cgroup2", 0, ""); err != nil {
				t.Skipf("no cgroup2 hierarchy and cannot mount one: %v", err)
			}
			t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
			base = mnt
		}
	}
	b := make([]byte, 32)
	rand.Read(b)
	id = hex.EncodeToString(b)
	pod := hex.EncodeToString(b[:8])
	levels := []string{"kubepods.slice", "kubepods-besteffort.slice",
		"kubepods-besteffort-pod" + pod + ".slice", "cri-containerd-" + id + ".scope"}
	dir = base
	var made []string
	for _, l := range levels {
		dir = filepath.Join(dir, l)
		if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		} else if err == nil {
			made = append(made, dir)
		}
	}
	t.Cleanup(func() {
		for i := len(made) - 1; i >= 0; i-- {
			// The test's processes have exited; retry briefly while the
			// kernel finishes releasing them.
			for try := 0; try < 50; try++ {
				if err := os.Remove(made[i]); err == nil || os.IsNotExist(err) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	return dir, id
}

func TestRawTracepointFallback(t *testing.T) {
	d := startDetector(t, Options{rawTracepointsOnly: true})
	for _, h := range d.Hooks() {
		if h.Name == "module_load" {
			continue
		}
		if h.Attached != "raw_tp" {
			t.Errorf("hook %s: attached %q: %v", h.Name, h.Attached, h.Err)
		}
	}
	ch, cancel := d.Subscribe(1024)
	defer cancel()
	bin := filepath.Join(tmpDir(t), "true-raw")
	copyFile(t, "/bin/true", bin, 0o755)
	run(t, bin)
	waitFor(t, ch, "exec via raw_tp", func(e *Event) bool { return e.Rule == "exec-from-writable-dir" && e.Path == bin })
}
