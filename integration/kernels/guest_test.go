package kernels

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cavaliergopher/cpio"
	"golang.org/x/sys/unix"

	"github.com/nodeguard/nodeguard/integration/agentproc"
)

// guestModule is where the initramfs holds the kernel's own test module,
// under the module's own name as insmod would find it.
const guestModule = "/lib/modules/" + testModule + ".ko"

// applets are the busybox applets the guest's tests and /init call by name.
// /bin/true is not one: the tests copy /bin/true and run the copy under
// another name, which busybox would refuse as an unknown applet.
var applets = []string{"sh", "sleep", "cp", "chmod", "mount", "umount", "unshare",
	"ip", "poweroff", "cat", "echo", "mkdir", "setpriv", "uname"}

// initScript is the guest's PID 1. Its last line of output is the end
// marker the host looks for; poweroff -f ends qemu (-no-reboot) at once.
const initScript = `#!/bin/sh
# The kernel starts init without PATH; the tests find their tools through it.
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
# The initramfs has no device nodes, so the console is opened only now.
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# Tracepoint ids are read from tracefs; kernels without it still run the tests.
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
ip link set lo up
mkdir -p /etc /var/lib /root
echo 'root:x:0:0:root:/root:/bin/sh' >/etc/passwd
echo 'nobody:x:65534:65534:nobody:/nonexistent:/bin/sh' >>/etc/passwd
echo 'root:x:0:' >/etc/group
echo 'nogroup:x:65534:' >>/etc/group
echo "` + guestMarker + ` $(uname -r)"
cd /
NODEGUARD_REQUIRE_BPF=1 NODEGUARD_TEST_MODULE=%s /runtime.test -test.v -test.count=1 -test.timeout=%s -test.run '%s'
echo "nodeguard-guest-exit: $?"
poweroff -f
`

// guestFiles are the host files an initramfs is made of.
type guestFiles struct {
	busybox, trueBin, testBin string
}

// writeInitramfs writes a gzipped newc cpio archive (what the kernel unpacks
// as its first root file system) holding busybox, /init, the test binary and
// module, the kernel's own test module.
func writeInitramfs(out string, g guestFiles, module string, testTimeout time.Duration) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	w := cpio.NewWriter(zw)
	add := func(name string, mode cpio.FileMode, data []byte) error {
		if err := w.WriteHeader(&cpio.Header{Name: name, Mode: mode, Size: int64(len(data))}); err != nil {
			return err
		}
		_, err := w.Write(data)
		return err
	}
	var errs []error
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "run", "etc", "var", "lib", "lib/modules", "root"} {
		errs = append(errs, add(d, cpio.TypeDir|0o755, nil))
	}
	files := []struct {
		name, from string
		mode       cpio.FileMode
	}{
		{"bin/busybox", g.busybox, 0o755},
		{"bin/true", g.trueBin, 0o755},
		{"runtime.test", g.testBin, 0o755},
		{strings.TrimPrefix(guestModule, "/"), module, 0o644},
	}
	for _, fl := range files {
		data, err := os.ReadFile(fl.from)
		if err != nil {
			return err
		}
		errs = append(errs, add(fl.name, cpio.TypeReg|fl.mode, data))
	}
	for _, a := range applets {
		// newc stores a symlink's target as its content.
		errs = append(errs, add("bin/"+a, cpio.TypeSymlink|0o777, []byte("busybox")))
	}
	script := fmt.Sprintf(initScript, guestModule, testTimeout, testsRun)
	errs = append(errs, add("init", cpio.TypeReg|0o755, []byte(script)))
	errs = append(errs, w.Close(), zw.Close())
	return errors.Join(errs...)
}

// buildTrue builds a static program that exits 0 whatever its name: the
// guest's /bin/true.
func buildTrue(dir string) (string, error) {
	src := dir + "/true.go"
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		return "", err
	}
	out := dir + "/true"
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build true.go: %v\n%s", err, b)
	}
	return out, nil
}

// kvmUsable reports whether KVM can really be used: /dev/kvm opens, speaks
// the stable API and creates a VM (nested or locked-down hosts can fail at
// any of these steps).
func kvmUsable() error {
	fd, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	const kvmGetAPIVersion, kvmCreateVM = 0xAE00, 0xAE01 // _IO(KVMIO, 0x00), _IO(KVMIO, 0x01)
	v, err := unix.IoctlRetInt(fd, kvmGetAPIVersion)
	if err != nil {
		return fmt.Errorf("KVM_GET_API_VERSION: %v", err)
	}
	if v != 12 {
		return fmt.Errorf("KVM API version %d, want 12", v)
	}
	vm, err := unix.IoctlRetInt(fd, kvmCreateVM)
	if err != nil {
		return fmt.Errorf("KVM_CREATE_VM: %v", err)
	}
	unix.Close(vm)
	return nil
}

// qemuArgs are the accelerator's arguments. TCG runs both vCPUs on one
// thread: with thread=multi (qemu 7.2) about one boot in six left a vCPU
// spinning in syscall_trace_enter once the tests attached to sys_enter (text
// the kernel patches while the other vCPU runs), a soft lockup that a real
// CPU does not have. A single thread is as fast here: the tests are short.
func qemuArgs(accel string) []string {
	if accel == "kvm" {
		return []string{"-enable-kvm", "-cpu", "host"}
	}
	return []string{"-accel", "tcg,thread=single", "-cpu", "max"}
}

// errNoInit is boot's error when /init did not start in time.
var errNoInit = errors.New("the guest's /init did not start")

// guestMarker is /init's first line of output.
const guestMarker = "nodeguard-guest-kernel:"

// boot runs the kernel with the initramfs under qemu until the guest powers
// off or timeout passes (qemu is then killed), and returns the serial
// console. When initWithin is not 0, qemu is killed with errNoInit unless
// /init starts within it. progress gets each console line as it arrives.
func boot(kernel, initrd, accel string, timeout, initWithin time.Duration, progress func(string)) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	started := make(chan struct{})
	var noInit atomic.Bool
	var startOnce sync.Once
	if initWithin > 0 {
		timer := time.AfterFunc(initWithin, func() {
			select {
			case <-started:
			default:
				noInit.Store(true)
				cancel()
			}
		})
		defer timer.Stop()
	}
	args := append([]string{
		"-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
		"-m", "1024", "-smp", "2",
		"-kernel", kernel, "-initrd", initrd,
		// panic=-1 with -no-reboot: a guest panic ends qemu instead of hanging,
		// and softlockup_panic=1 makes a stuck CPU such a panic, with its stack
		// on the console. NODEGUARD_KERNELS_APPEND adds arguments (loglevel=7).
		"-append", strings.TrimSpace("console=ttyS0 panic=-1 softlockup_panic=1 quiet " + os.Getenv("NODEGUARD_KERNELS_APPEND")),
	}, qemuArgs(accel)...)
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	cmd.WaitDelay = 5 * time.Second
	var console agentproc.SyncBuffer // the console, while qemu writes it
	pr, pw := io.Pipe()
	cmd.Stdout = io.MultiWriter(&console, pw)
	cmd.Stderr = &console
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			if strings.HasPrefix(line, guestMarker) {
				startOnce.Do(func() { close(started) })
			}
			progress(line)
		}
		io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	if noInit.Load() {
		err = fmt.Errorf("%w within %s: qemu killed", errNoInit, initWithin)
	} else if ctx.Err() != nil {
		err = fmt.Errorf("no power-off within %s: qemu killed", timeout)
	} else if err != nil {
		err = fmt.Errorf("qemu-system-x86_64: %v", err)
	}
	return strings.ReplaceAll(console.String(), "\r\n", "\n"), err
}
