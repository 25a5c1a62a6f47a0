package anomaly

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
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/nodeguard/nodeguard/bpf/identity"
	"github.com/nodeguard/nodeguard/bpf/sockiter"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// These tests load the real programs into this kernel and trigger each rule
// it supports with a real process.

func TestMain(m *testing.M) {
	// The test binary doubles as the program the rules watch run, so that
	// the tests need no binaries beyond sh, sleep, mount and unshare (a
	// kernel-matrix guest has busybox and this binary only).
	if os.Getenv("NODEGUARD_EXIT0") == "1" {
		os.Exit(0)
	}
	// As the light nodeguard does when the agent announces it.
	if len(os.Args) == 2 && os.Args[1] == identity.Command {
		identity.Announce()
		os.Exit(0)
	}
	if v := os.Getenv("NODEGUARD_SLEEP"); v != "" {
		d, _ := time.ParseDuration(v)
		time.Sleep(d)
		os.Exit(0)
	}
	if v := os.Getenv("NODEGUARD_BPF_HELPER"); v != "" {
		os.Exit(bpfHelper(v))
	}
	if v := os.Getenv("NODEGUARD_SUID_HELPER"); v != "" {
		os.Exit(suidHelper(v))
	}
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
		if requireBPF() {
			t.Fatal("loading BPF programs needs root, and CI (or NODEGUARD_REQUIRE_BPF=1) requires these tests")
		}
		t.Skip("loading BPF programs needs root")
	}
}

// selfCopy puts this test binary at dir/name: a hard link where it can (the
// same executable), a copy otherwise or when copy is set (another one).
func selfCopy(t testing.TB, dir, name string, mode os.FileMode, copy bool) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	if !copy && os.Link(self, bin) == nil {
		return bin
	}
	copyFile(t, self, bin, mode)
	if err := os.Chmod(bin, mode); err != nil {
		t.Fatal(err)
	}
	return bin
}

// runExit0 runs bin (a copy of this binary) so that it exits at once.
func runExit0(t *testing.T, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "NODEGUARD_EXIT0=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, out)
	}
}

// bpfHelper loads one trivial BPF program, as another tool on the node
// would, or with "sockiter" the ports probe's socket iterator, as
// `nodeguard scan` does.
func bpfHelper(mode string) int {
	if mode == "sockiter" {
		it, err := sockiter.Open()
		if err != nil {
			fmt.Fprintln(os.Stderr, "socket iterator:", err)
			return 1
		}
		it.Close()
		return 0
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.SocketFilter, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "loading a BPF program:", err)
		return 1
	}
	prog.Close()
	return 0
}

// suidHelper runs in a private mount namespace: it mounts a tmpfs that
// allows setuid at dir, puts a setuid-root copy of this binary there and
// runs it as nobody.
func suidHelper(dir string) int {
	// Private first, so that nothing mounted here reaches the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fmt.Fprintln(os.Stderr, "making / private:", err)
		return 1
	}
	if err := unix.Mount("nodeguard-test", dir, "tmpfs", 0, "mode=755"); err != nil {
		fmt.Fprintln(os.Stderr, "mount:", err)
		return 1
	}
	self, _ := os.Executable()
	b, err := os.ReadFile(self)
	if err != nil {
		return 1
	}
	bin := filepath.Join(dir, "suid-helper")
	if err := os.WriteFile(bin, b, 0o755); err != nil || os.Chmod(bin, os.ModeSetuid|0o755) != nil {
		fmt.Fprintln(os.Stderr, "writing the setuid copy:", err)
		return 1
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"NODEGUARD_EXIT0=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintln(os.Stderr, "running the setuid copy:", err, string(out))
		return 1
	}
	return 0
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
	select {
	case <-d.Loaded():
	case <-time.After(2 * time.Minute):
		t.Fatalf("programs still loading after 2 minutes: %v", d.Loading())
	}
	for _, h := range d.Hooks() {
		for _, a := range h.Attempts {
			if a.Err != nil {
				t.Logf("hook %s: %s (%s) refused: %v %q", h.Name, a.Program, a.Variant, a.Err, a.VerifierTail)
			}
		}
	}
	return d
}

// waitFor returns the first event matching pred, or fails after a timeout
// long enough for a loaded CI machine (events arrive within the poll
// interval).
func waitFor(t *testing.T, ch <-chan Event, what string, pred func(*Event) bool) Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	var others []string
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("%s: event channel closed", what)
			}
			if pred(&ev) {
				return ev
			}
			if len(others) < 20 {
				others = append(others, fmt.Sprintf("%s comm=%s path=%s uid=%d euid=%d container=%s", ev.Rule, ev.Comm, ev.Path, ev.UID, ev.EUID, ev.ContainerID))
			}
		case <-timeout:
			t.Fatalf("%s: no event within 10s; other events: %q", what, others)
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

func tmpDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "nodeguard-runtime-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func copyFile(t testing.TB, from, to string, mode os.FileMode) {
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
		t.Logf("hook %s: attached=%q variant=%q insns=%d err=%v", h.Name, h.Attached, h.Variant, h.Insns, h.Err)
		if h.Attached != "" && h.Variant != "full" && requireBPF() {
			t.Errorf("hook %s: the full variant was refused on this kernel", h.Name)
		}
	}
	checkRules(t, d, false)
}

// TestRulesSimpleVariant fires every rule through the simple programs, the
// fallback for kernels that refuse the full ones: container membership and
// relative exec paths are then decided in user space.
func TestRulesSimpleVariant(t *testing.T) {
	d := startDetector(t, Options{onlyVariant: "simple"})
	for _, h := range d.Hooks() {
		if h.Attached != "" && h.Variant != "simple" {
			t.Errorf("hook %s: variant %q", h.Name, h.Variant)
		}
	}
	checkRules(t, d, true)
	t.Run("exec-relative", func(t *testing.T) {
		ch, cancel := d.Subscribe(4096)
		defer cancel()
		dir := tmpDir(t)
		bin := selfCopy(t, dir, "true-relative", 0o755, false)
		cmd := exec.Command("./true-relative")
		// The relative name is resolved against the process's cwd in
		// user space, so the process lives until its event is read.
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "NODEGUARD_SLEEP=1s")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		waitFor(t, ch, "relative exec", func(e *Event) bool { return e.Rule == "exec-from-writable-dir" && e.Exe == bin })
	})
}

// checkRules fires every rule; simple says the simple variant is loaded,
// whose exec path is the name exec was given.
func checkRules(t *testing.T, d *Detector, simple bool) {
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
		bin := selfCopy(t, tmpDir(t), "true-copy", 0o755, false)
		runExit0(t, bin, "--first-arg", "second")
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
		self, _ := os.Executable()
		b, _ := os.ReadFile(self)
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
		runExit0(t, fmt.Sprintf("/proc/self/fd/%d", fd))
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
		bin := selfCopy(t, dir, "gone", 0o755, true)
		f, err := os.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		os.Remove(bin)
		cmd := &exec.Cmd{Path: "/proc/self/fd/3", Args: []string{"gone"}, ExtraFiles: []*os.File{f},
			Env: append(os.Environ(), "NODEGUARD_EXIT0=1")}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("exec of a deleted file: %v %s", err, out)
		}
		waitFor(t, ch, "deleted exec", func(e *Event) bool {
			return e.Rule == "exec-from-writable-dir" && e.Details["deleted"] == "true" && (simple || e.Path == bin+" (deleted)")
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
		// setuid-root copy of this binary, run as nobody.
		helper := exec.Command(os.Args[0], "-test.run=^$")
		helper.Env = append(os.Environ(), "NODEGUARD_SUID_HELPER="+dir)
		helper.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		if out, err := helper.CombinedOutput(); err != nil {
			t.Fatalf("setuid helper: %v %s", err, out)
		}
		ev := waitFor(t, ch, "setuid exec", func(e *Event) bool {
			return e.Rule == "setuid-root" && e.Comm == "suid-helper"
		})
		if ev.UID != 65534 || ev.EUID != 0 || ev.Details["via"] != "setuid-root binary" {
			t.Errorf("setuid event: %+v", ev)
		}
	})

	t.Run("bpf-load", func(t *testing.T) {
		requireActive(t, BPFLoad)
		// The agent's own executable is exempt, so a copy of it (another
		// file, named like the agent) loads a program.
		bin := selfCopy(t, tmpDir(t), "nodeguard", 0o755, true)
		helper := exec.Command(bin, "-test.run=^$")
		helper.Env = append(os.Environ(), "NODEGUARD_BPF_HELPER=1")
		if out, err := helper.CombinedOutput(); err != nil {
			t.Fatalf("bpf helper: %v %s", err, out)
		}
		waitFor(t, ch, "bpf", func(e *Event) bool { return e.Rule == "bpf-load" && e.Comm == "nodeguard" })
	})

	t.Run("in-container", func(t *testing.T) {
		requireActive(t, ShellInContainer)
		cg, id := containerCgroup(t)
		procs := filepath.Join(cg, "cgroup.procs")
		inCgroup := func(cmd string) {
			run(t, "sh", "-c", fmt.Sprintf("echo $$ > %s && exec %s", procs, cmd))
		}
		inCgroup(`sh -c "exit 0"`)
		ev := waitFor(t, ch, "shell", func(e *Event) bool { return e.Rule == "shell-in-container" && e.ContainerID == id })
		if ev.Runtime != "containerd" || !strings.HasPrefix(ev.Cgroup, "cri-containerd-") || ev.CgroupID == 0 {
			t.Errorf("shell event: %+v", ev)
		}
		dpkg := selfCopy(t, tmpDir(t), "dpkg", 0o755, false)
		inCgroup("env NODEGUARD_EXIT0=1 " + dpkg)
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
		if _, err := os.Stat("/proc/modules"); err != nil {
			if st.Active || !strings.Contains(st.Reason, "unsupported") {
				t.Errorf("kernel-module-load on a kernel without modules: %+v", st)
			}
			return
		}
		requireActive(t, KernelModuleLoad)
		// Only a throwaway machine (a kernel-matrix guest) names a module
		// to load: a test does not load modules into a host.
		mod := os.Getenv("NODEGUARD_TEST_MODULE")
		if mod == "" {
			t.Skip("NODEGUARD_TEST_MODULE names no module to load")
		}
		f, err := os.Open(mod)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil {
			t.Fatalf("finit_module %s: %v", mod, err)
		}
		name := strings.TrimSuffix(filepath.Base(mod), ".ko")
		waitFor(t, ch, "module", func(e *Event) bool {
			return e.Rule == "kernel-module-load" && e.Details["module"] == name
		})
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

// TestNoSelfAlarm: the agent's executable loading BPF programs in another
// process (an admin's `nodeguard scan`, whose socket iterator is a BPF
// program) is the agent, not an anomaly; another executable with the
// agent's name is not.
func TestNoSelfAlarm(t *testing.T) {
	// The light nodeguard beside the agent: another file, announced by the
	// agent at start.
	sibling := selfCopy(t, tmpDir(t), "nodeguard", 0o755, true)
	d := startDetector(t, Options{Sibling: sibling})
	if st := d.Rules()[BPFLoad]; !st.Active {
		t.Fatalf("bpf-load is not active: %s", st.Reason)
	}
	ch, cancel := d.Subscribe(4096)
	defer cancel()
	loadBPF := func(bin string) uint32 {
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), "NODEGUARD_BPF_HELPER=sockiter")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v %s", bin, err, out)
		}
		return uint32(cmd.Process.Pid)
	}
	same := loadBPF(os.Args[0])
	light := loadBPF(sibling)
	other := loadBPF(selfCopy(t, tmpDir(t), "nodeguard", 0o755, true))
	// Events arrive in order: once the copy's is here, the same
	// executable's and the sibling's would have been too.
	waitFor(t, ch, "bpf-load of another executable", func(e *Event) bool {
		if e.Rule == "bpf-load" && e.PID == same {
			t.Errorf("the agent's own executable raised bpf-load: %+v", *e)
		}
		if e.Rule == "bpf-load" && e.PID == light {
			t.Errorf("the announced light nodeguard raised bpf-load: %+v", *e)
		}
		return e.Rule == "bpf-load" && e.PID == other
	})
}

// TestCloseWhileLoading: the agent answers and stops while the verifier is
// busy: loading is in the background, says which hooks are pending, and
// Close does not wait for it.
func TestCloseWhileLoading(t *testing.T) {
	needRoot(t)
	gate := make(chan struct{})
	d, err := Start(context.Background(), Options{Policy: policy.Default(), Log: zerolog.New(io.Discard), loadGate: gate})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Loading(); len(got) != int(numHooks) {
		t.Errorf("Loading() = %v, want every hook", got)
	}
	for _, st := range d.Rules() {
		if st.Active || (st.Enabled && st.Reason != "loading") {
			t.Errorf("rule %s while loading: %+v", st.Rule, st)
		}
	}
	// The loader is held before its first program: Close must not wait.
	if err := d.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	close(gate)
	select {
	case <-d.Loaded():
	case <-time.After(time.Minute):
		t.Fatal("the loader did not end after Close")
	}
	for _, h := range d.Hooks() {
		if h.Attached != "" {
			t.Errorf("hook %s attached after Close", h.Name)
		}
	}
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
	bin := selfCopy(t, tmpDir(t), "true-raw", 0o755, false)
	runExit0(t, bin)
	waitFor(t, ch, "exec via raw_tp", func(e *Event) bool { return e.Rule == "exec-from-writable-dir" && e.Path == bin })
}
