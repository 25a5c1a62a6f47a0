package sshd

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// realSSHD runs Debian's sshd in test mode (-T), never as a daemon. It needs
// a host key, which the test generates, and a /run/sshd directory, which a
// private mount namespace with a tmpfs on /run provides without touching
// the host.
type realSSHD struct {
	path    string
	hostKey string
	prefix  []string // unshare invocation
}

var (
	realOnce sync.Once
	realInst *realSSHD
	realWhy  string
)

func findSSHD(t testing.TB) *realSSHD {
	t.Helper()
	realOnce.Do(func() {
		path := "/usr/sbin/sshd"
		if _, err := os.Stat(path); err != nil {
			realWhy = "openssh-server is not installed (" + path + " missing; apt-get install openssh-server)"
			return
		}
		dir, err := os.MkdirTemp("", "nodeguard-sshd-key")
		if err != nil {
			realWhy = err.Error()
			return
		}
		key := filepath.Join(dir, "hostkey")
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
			realWhy = "ssh-keygen: " + err.Error() + ": " + string(out)
			return
		}
		for _, prefix := range [][]string{{"unshare", "-m"}, {"unshare", "-r", "-m"}} {
			args := append(append([]string{}, prefix...), "sh", "-c", "mount -t tmpfs tmpfs /run && mkdir /run/sshd")
			if err := exec.Command(args[0], args[1:]...).Run(); err == nil {
				realInst = &realSSHD{path: path, hostKey: key, prefix: prefix}
				return
			}
		}
		realWhy = "cannot create a private mount namespace for sshd's /run/sshd (unshare -m failed; run the tests as root)"
	})
	if realInst == nil {
		if os.Getenv("CI") != "" && os.Getenv("CI") != "false" {
			t.Fatalf("differential tests need the real sshd under CI: %s", realWhy)
		}
		t.Skip(realWhy)
	}
	return realInst
}

// run is `sshd -T -f file -C spec`; it returns stdout, stderr and whether
// sshd accepted the configuration.
func (r *realSSHD) run(t testing.TB, file, spec string) (string, string, bool) {
	return r.runIn(t, "", file, spec)
}

// runIn is run with a fixture's etc directory laid over /etc (a read-only
// overlay in the private mount namespace), so that sshd reads the fixture's
// sshd_config, includes, users and groups exactly where nodeguard does.
func (r *realSSHD) runIn(t testing.TB, fixtureRoot, file, spec string) (string, string, bool) {
	t.Helper()
	script := `mount -t tmpfs tmpfs /run && mkdir /run/sshd && exec "$0" "$@"`
	if fixtureRoot != "" {
		abs, err := filepath.Abs(filepath.Join(fixtureRoot, "etc"))
		if err != nil {
			t.Fatal(err)
		}
		script = `mount -t tmpfs tmpfs /run && mkdir /run/sshd && mount -t overlay overlay -o lowerdir=` + abs + `:/etc /etc && exec "$0" "$@"`
	}
	args := append(append([]string{}, r.prefix...), "sh", "-c", script,
		r.path, "-T", "-h", r.hostKey, "-f", file)
	if spec != "" {
		args = append(args, "-C", spec)
	}
	cmd := exec.Command(args[0], args[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running sshd: %v", err)
	}
	return out.String(), errb.String(), err == nil
}

// sshdValues extracts a keyword's values from sshd -T output.
func sshdValues(out, kw string) []string {
	var vals []string
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, kw+" "); ok {
			vals = append(vals, v)
		}
	}
	return vals
}

var hostRoot = sync.OnceValue(func() *hostfs.Root {
	r, err := hostfs.Open("/")
	if err != nil {
		panic(err)
	}
	return r
})

// differ compares nodeguard with sshd on one configuration and connection
// and describes the first disagreement, or returns "".
func differ(t testing.TB, r *realSSHD, file, spec string) string {
	d, _ := differAccepted(t, r, file, spec)
	return d
}

// differAccepted is differ that also tells whether sshd accepted the file.
func differAccepted(t testing.TB, r *realSSHD, file, spec string) (string, bool) {
	out, errOut, ok := r.run(t, file, spec)
	d := compareRun(t, hostRoot(), file, spec, out, errOut, ok)
	return d, ok
}

func compareRun(t testing.TB, root *hostfs.Root, file, spec, out, errOut string, ok bool) string {
	conn, err := ParseConnSpec(spec)
	if err != nil {
		t.Fatalf("bad spec %q: %v", spec, err)
	}
	cfg, err := Effective(root, file, conn)
	if !ok {
		var refused *RefusedError
		if !errors.As(err, &refused) {
			return "sshd refused (" + strings.TrimSpace(errOut) + ") but nodeguard: " + errString(err)
		}
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		want := lines[len(lines)-1]
		got := refused.Problems[len(refused.Problems)-1].Message
		if want != got {
			return "refusal reason differs:\n  sshd:      " + want + "\n  nodeguard: " + got
		}
		return ""
	}
	if err != nil {
		return "sshd accepted but nodeguard: " + err.Error()
	}
	for _, kw := range PrintedKeywords {
		want := sshdValues(out, kw)
		got := cfg.Values(kw)
		if strings.Join(want, "\n") != strings.Join(got, "\n") {
			return "keyword " + kw + ":\n  sshd:      " + strings.Join(want, " | ") + "\n  nodeguard: " + strings.Join(got, " | ")
		}
	}
	// The lines themselves, in order, are what `nodeguard sshd effective`
	// prints: sshd -T's output restricted to the evaluated keywords.
	printed := map[string]bool{}
	for _, kw := range PrintedKeywords {
		printed[kw] = true
	}
	var want []string
	for _, l := range strings.Split(out, "\n") {
		if k, _, _ := strings.Cut(l, " "); printed[k] {
			want = append(want, l)
		}
	}
	if strings.Join(want, "\n") != strings.Join(cfg.Lines(), "\n") {
		return "output lines differ:\n  sshd:\n" + strings.Join(want, "\n") + "\n  nodeguard:\n" + strings.Join(cfg.Lines(), "\n")
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return "accepted it"
	}
	return err.Error()
}

// compareAll runs differ over many (file, spec) pairs on a few workers.
func compareAll(t *testing.T, r *realSSHD, jobs []diffJob) (accepted int) {
	t.Helper()
	ch := make(chan diffJob)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				d, ok := differAccepted(t, r, j.file, j.spec)
				mu.Lock()
				if ok {
					accepted++
				}
				if d != "" {
					t.Errorf("%s with -C %q: %s\n--- config ---\n%s", j.name, j.spec, d, j.content)
				}
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	return accepted
}

type diffJob struct{ name, file, content, spec string }
