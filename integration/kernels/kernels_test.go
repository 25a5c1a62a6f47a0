package kernels

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var update = flag.Bool("update", false, "rewrite docs/kernels.md from this run (also NODEGUARD_KERNELS_UPDATE=1)")

// kernel is one entry of the matrix: the newest version of pkg in an apt
// suite that matches a version pattern (a glob).
type kernel struct {
	name    string // subtest name
	label   string
	pkg     string
	suite   string
	version string
}

// kernels is the matrix. Debian's own kernels: the release and the security
// updates of Debian 12, which this project's CI runs on, and Debian 13's.
var kernels = []kernel{
	{"bookworm", "Debian 12 (bookworm) release", "linux-image-amd64", "bookworm", "6.1.*"},
	{"bookworm-security", "Debian 12 (bookworm) security", "linux-image-amd64", "bookworm-security", "6.1.*"},
	{"trixie", "Debian 13 (trixie)", "linux-image-amd64", "trixie", "6.12.*"},
}

// testsRun selects the tests that load the BPF programs and trigger the rules.
const testsRun = `^(TestRulesOnThisKernel|TestRawTracepointFallback|TestVerifierHeadroom|TestNoSelfAlarm)$`

// testModule is the module each kernel's tests may load: small, in every
// Debian kernel, without dependencies (checked). Packages compress it.
const testModule = "dummy"

var testModuleFile = regexp.MustCompile(`/lib/modules/[^/]+/kernel/drivers/net/` + testModule + `\.ko(\.xz|\.zst)?$`)

// timeout is the wall time a kernel gets to boot and run its tests. TCG on
// two cores is the slow case it is sized for; verifying a program the
// verifier finally refuses (a million instructions) dominates.
func timeout() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("NODEGUARD_KERNELS_TIMEOUT")); err == nil && d > 0 {
		return d
	}
	return 5 * time.Minute
}

// initWithin is how long a guest may take to start /init. Under KVM that
// is seconds, so a guest silent for longer means KVM does not work here.
func initWithin(accel string) time.Duration {
	if accel == "kvm" {
		return 30 * time.Second
	}
	return 0
}

func cacheDir() string {
	if d := os.Getenv("NODEGUARD_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "nodeguard")
}

// need stops t when part is missing: a failure under CI=true, so the matrix
// is never silently skipped there, and a skip elsewhere.
func need(t testing.TB, part string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: %v", part, err)
	}
	t.Skipf("%s: %v (CI=true makes this a failure)", part, err)
}

// TestKernelMatrix boots each kernel of the matrix under qemu and runs the
// eBPF rule tests inside it, then runs them natively on this machine's kernel.
func TestKernelMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("boots several kernels under qemu (minutes)")
	}
	for _, tool := range []string{"qemu-system-x86_64", "apt-get", "apt-cache", "dpkg-deb", "go"} {
		_, err := exec.LookPath(tool)
		need(t, tool, err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	testBin := buildRuntimeTest(t, root, work)
	trueBin, err := buildTrue(work)
	if err != nil {
		t.Fatal(err)
	}

	cache := filepath.Join(cacheDir(), "kernels")
	_, codename, err := hostRepos()
	need(t, "apt sources", err)
	suites := []string{codename}
	for _, k := range kernels {
		if !slices.Contains(suites, k.suite) {
			suites = append(suites, k.suite)
		}
	}
	a, err := newAPT(filepath.Join(cache, "apt"), suites)
	need(t, "private apt configuration", err)
	busybox, err := fetchBusybox(a, cache, codename)
	need(t, "busybox-static", err)
	g := guestFiles{busybox: busybox, trueBin: trueBin, testBin: testBin}

	accel, why := "kvm", "KVM"
	if err := kvmUsable(); err != nil {
		accel, why = "tcg", fmt.Sprintf("TCG: KVM is not usable (%v)", err)
		t.Log(why)
	}
	if v := os.Getenv("NODEGUARD_KERNELS_ACCEL"); v == "kvm" || v == "tcg" {
		accel, why = v, "NODEGUARD_KERNELS_ACCEL="+v
	}

	var results []result
	start := time.Now()
	for _, k := range kernels {
		r := result{Label: k.label}
		t.Run(k.name, func(t *testing.T) {
			defer func() { results = append(results, r) }()
			runKernel(t, a, cache, k, g, &accel, work, &r)
		})
	}
	r := result{Label: "This machine (native)", Accel: "native"}
	t.Run("native", func(t *testing.T) {
		defer func() { results = append(results, r) }()
		runNative(t, testBin, work, &r)
	})
	elapsed := time.Since(start).Round(time.Second)
	t.Logf("matrix: %s", elapsed)
	if why == "KVM" && accel == "tcg" {
		why = "TCG: /dev/kvm passed the probe, but a guest did not start under KVM"
	}

	if *update || os.Getenv("NODEGUARD_KERNELS_UPDATE") != "" {
		doc := renderDoc(results, fmt.Sprintf("from `%s` in %s; accelerator %s", revision(root), elapsed, why), time.Now())
		if err := os.WriteFile(filepath.Join(root, "docs", "kernels.md"), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// buildRuntimeTest compiles agent/anomaly's tests statically (the guest has
// no libc); NODEGUARD_RUNTIME_TEST names a binary to use instead.
func buildRuntimeTest(t *testing.T, root, work string) string {
	t.Helper()
	out := filepath.Join(work, "runtime.test")
	if bin := os.Getenv("NODEGUARD_RUNTIME_TEST"); bin != "" {
		out = bin
	} else {
		cmd := exec.Command("go", "test", "-c", "-o", out, "./agent/anomaly")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go test -c ./agent/anomaly: %v\n%s", err, tail(string(b), 4000))
		}
	}
	if !isStatic(out) {
		t.Fatalf("%s is not a static executable", out)
	}
	return out
}

// fetchBusybox returns the static busybox of the host's release.
func fetchBusybox(a *apt, cache, codename string) (string, error) {
	var name, version string
	err := a.retry(func() (err error) {
		name, version, err = a.resolve("busybox-static", codename, "*")
		return err
	})
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, cacheName(name, version))
	pick := func(m string) string {
		if m == "/bin/busybox" || m == "/usr/bin/busybox" {
			return "busybox"
		}
		return ""
	}
	if err := a.fetch(dir, name, version, pick, []string{"busybox"}); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "busybox")
	if !isStatic(bin) {
		return "", fmt.Errorf("%s is not static", bin)
	}
	return bin, os.Chmod(bin, 0o755)
}

// runKernel fetches k, boots it with the tests and fills r.
// accel is shared by the kernels, so a KVM that fails once is not tried again.
func runKernel(t *testing.T, a *apt, cache string, k kernel, g guestFiles, accel *string, work string, r *result) {
	var name, version string
	err := a.retry(func() (err error) {
		name, version, err = a.resolve(k.pkg, k.suite, k.version)
		return err
	})
	if err != nil {
		r.Err = "not fetched: " + firstLine(err.Error())
	}
	need(t, k.pkg+" from "+k.suite, err)
	r.Package, r.Version = name, version
	dir := filepath.Join(cache, cacheName(name, version))
	pick := func(m string) string {
		switch {
		case strings.HasPrefix(m, "/boot/vmlinuz-"):
			return "vmlinuz"
		case testModuleFile.MatchString(m):
			return testModule + ".ko"
		}
		return ""
	}
	if err := a.fetch(dir, name, version, pick, []string{"vmlinuz", testModule + ".ko"}); err != nil {
		r.Err = "not fetched: " + firstLine(err.Error())
		need(t, name+" "+version, err)
	}
	module := filepath.Join(dir, testModule+".ko")
	if deps, err := moduleDepends(module); err != nil || deps != "" {
		t.Fatalf("%s: depends=%q %v: the guest cannot load it alone", module, deps, err)
	}
	initrd := filepath.Join(work, k.name+".cpio.gz")
	if err := writeInitramfs(initrd, g, module, timeout()-time.Minute); err != nil {
		t.Fatal(err)
	}

	progress := func(line string) {
		if resultLine.MatchString(line) || strings.HasPrefix(line, "nodeguard-guest-") {
			t.Log(line)
		}
	}
	start := time.Now()
	console, err := boot(filepath.Join(dir, "vmlinuz"), initrd, *accel, timeout(), initWithin(*accel), progress)
	if errors.Is(err, errNoInit) && *accel == "kvm" {
		// KVM passed the probe yet the guest does not boot (seen with nested
		// virtualisation): use TCG from now on.
		t.Logf("qemu with KVM: %v: retrying with TCG, and TCG for the next kernels\n%s", err, tail(console, 2000))
		*accel = "tcg"
		start = time.Now()
		console, err = boot(filepath.Join(dir, "vmlinuz"), initrd, *accel, timeout(), 0, progress)
	}
	r.Accel, r.Elapsed = *accel, time.Since(start).Round(time.Second)
	parseOutput(console, r)
	t.Logf("%s %s (%s): %s in %s", name, version, r.Kernel, r.status(), r.Elapsed)
	switch {
	case err != nil:
		r.Err = "did not finish: " + err.Error()
		t.Errorf("%s: %v\nconsole tail:\n%s", k.label, err, tail(console, 6000))
	case r.Exit != 0 || r.Overall != "PASS":
		t.Errorf("%s: the tests failed in the guest (%s)\nconsole tail:\n%s", k.label, strings.Join(r.failed(), ", "), tail(console, 6000))
	}
}

// runNative runs the same test binary on this machine's kernel, without qemu.
func runNative(t *testing.T, testBin, work string, r *result) {
	if os.Geteuid() != 0 {
		r.Err = "not run: needs root"
		need(t, "root (to load BPF programs natively)", fmt.Errorf("running as uid %d", os.Geteuid()))
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		r.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	env := append(os.Environ(), "NODEGUARD_REQUIRE_BPF=1")
	if m := hostModule(r.Kernel, work); m != "" {
		env = append(env, "NODEGUARD_TEST_MODULE="+m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout())
	defer cancel()
	cmd := exec.CommandContext(ctx, testBin, "-test.v", "-test.count=1",
		"-test.timeout="+(timeout()-time.Minute).String(), "-test.run", testsRun)
	cmd.Dir = work
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	r.Elapsed = time.Since(start).Round(time.Second)
	parseOutput(string(out), r)
	r.Exit = cmd.ProcessState.ExitCode()
	t.Logf("native %s: %s in %s", r.Kernel, r.status(), r.Elapsed)
	if ctx.Err() != nil {
		r.Err = "did not finish within " + timeout().String()
	}
	if err != nil {
		t.Errorf("native run on %s: %v (%s)\noutput tail:\n%s", r.Kernel, err, strings.Join(r.failed(), ", "), tail(string(out), 6000))
	}
}

// hostModule returns the running kernel's test module, decompressed into
// work, or "" when this kernel has none (no modules at all, or not
// installed under /lib/modules).
func hostModule(release, work string) string {
	for _, ext := range []string{"", ".xz", ".zst"} {
		src := filepath.Join("/lib/modules", release, "kernel/drivers/net", testModule+".ko"+ext)
		if _, err := os.Stat(src); err != nil {
			continue
		}
		dst := filepath.Join(work, testModule+".ko")
		if err := decompressTo(src, dst); err != nil {
			return ""
		}
		if deps, err := moduleDepends(dst); err != nil || deps != "" {
			return ""
		}
		return dst
	}
	return ""
}

// cacheName names a package's directory in the cache as apt names its .deb
// (an epoch's colon escaped).
func cacheName(name, version string) string {
	return name + "_" + strings.ReplaceAll(version, ":", "%3a")
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// revision is the commit the doc was generated from.
func revision(root string) string {
	out, err := exec.Command("git", "-C", root, "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown revision"
	}
	return strings.TrimSpace(string(out))
}
