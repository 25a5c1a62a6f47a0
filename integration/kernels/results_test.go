package kernels

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// result is one kernel's run, as docs/kernels.md reports it.
type result struct {
	Label    string
	Package  string // linux-image-... and its version; empty for the native row
	Version  string
	Kernel   string // uname -r where the tests ran
	Accel    string // kvm, tcg or native
	Elapsed  time.Duration
	Exit     int    // the test binary's exit status; -1 when it did not report one
	Overall  string // go test's final PASS or FAIL line; empty when it never got there
	Tests    []testResult
	Programs []program
	Err      string // why the kernel could not be run or did not finish
}

type testResult struct {
	Name   string // TestRulesOnThisKernel/exec-memfd
	Status string // PASS, FAIL or SKIP
	Note   string // the test's last log line, for a skip or a failure
}

// program is a bpf-program or bpf-refused line of TestVerifierHeadroom.
type program struct {
	Hook, Variant, Attach, Name, Insns string
	Time                               string // verification time, when logged
	Refused                            string // the load error when the verifier refused it
}

var (
	resultLine = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+)`)
	runLine    = regexp.MustCompile(`^=== (?:RUN|CONT|NAME)\s+(\S+)`)
	logLine    = regexp.MustCompile(`^\s+\S+\.go:\d+: (.*)$`)
)

// parseOutput reads go test -v output (the guest's console, or the native
// run's output) into r.
func parseOutput(out string, r *result) {
	r.Exit = -1
	logs := map[string]string{} // test -> its last log message
	cur, inLog := "", false
	failedSub := map[string]bool{} // tests with a failed subtest
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, "\r\n")
		if v, ok := strings.CutPrefix(line, guestMarker); ok {
			r.Kernel = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "nodeguard-guest-exit: "); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				r.Exit = n
			}
		}
		if line == "PASS" || line == "FAIL" {
			r.Overall = line
		}
		switch m := logLine.FindStringSubmatch(line); {
		case m != nil && cur != "":
			logs[cur], inLog = m[1], true
		case inLog && strings.HasPrefix(line, "        "):
			// A multi-line message continues, indented deeper.
			logs[cur] += " " + strings.TrimSpace(line)
		default:
			inLog = false
		}
		if m := runLine.FindStringSubmatch(line); m != nil {
			cur = m[1]
		}
		if m := resultLine.FindStringSubmatch(line); m != nil {
			tr := testResult{Name: m[2], Status: m[1]}
			if tr.Status == "FAIL" {
				if parent, _, ok := strings.Cut(tr.Name, "/"); ok {
					failedSub[parent] = true
				}
			}
			if tr.Status != "PASS" {
				tr.Note = logs[tr.Name]
			}
			r.Tests = append(r.Tests, tr)
		}
		if i := strings.Index(line, "bpf-program "); i >= 0 {
			kv := fields(line[i+len("bpf-program "):])
			r.Programs = append(r.Programs, program{Hook: kv["hook"], Variant: kv["variant"], Attach: kv["attach"], Name: kv["program"], Insns: kv["insns"], Time: kv["time"]})
		}
		if i := strings.Index(line, "bpf-refused "); i >= 0 {
			rest := line[i+len("bpf-refused "):]
			rest, msg, _ := strings.Cut(rest, "err=")
			if u, err := strconv.Unquote(strings.TrimSpace(msg)); err == nil {
				msg = u
			}
			kv := fields(rest)
			r.Programs = append(r.Programs, program{Hook: kv["hook"], Variant: kv["variant"], Attach: kv["attach"], Name: kv["program"], Refused: strings.TrimSpace(msg)})
		}
	}
	// go test prints a parent's result after its subtests'.
	for i, tr := range r.Tests {
		if failedSub[tr.Name] {
			r.Tests[i].Note = "a subtest failed"
		}
	}
}

func fields(s string) map[string]string {
	kv := map[string]string{}
	for f := range strings.FieldsSeq(s) {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		}
	}
	return kv
}

// failed names the tests that failed, or why the run did not finish.
func (r *result) failed() []string {
	var f []string
	for _, t := range r.Tests {
		if t.Status == "FAIL" {
			f = append(f, t.Name)
		}
	}
	if len(f) == 0 && r.Exit != 0 {
		f = append(f, fmt.Sprintf("exit status %d", r.Exit))
	}
	return f
}

func (r *result) status() string {
	switch {
	case r.Err != "":
		return r.Err
	case r.Exit == 0 && r.Overall == "PASS":
		return "PASS"
	case r.Exit == -1:
		return "FAIL (no end marker)"
	}
	return "FAIL"
}

// renderDoc writes docs/kernels.md.
func renderDoc(results []result, run string, when time.Time) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Kernel matrix\n\n")
	p("`make kernels` (`TestKernelMatrix` in integration/kernels) boots each kernel below under qemu and\n")
	p("runs the eBPF rule tests of agent/anomaly inside it, from a tiny initramfs (static busybox, the\n")
	p("statically built test binary, the kernel's own `dummy.ko`):\n\n")
	p("    runtime.test -test.v -test.run '%s'\n\n", testsRun)
	p("with `NODEGUARD_REQUIRE_BPF=1`, so a program the verifier refuses is a failure, not a skip. The\n")
	p("kernels are Debian's `linux-image-amd64` packages, fetched with `apt-get download` into\n")
	p("`${NODEGUARD_CACHE:-$HOME/.cache/nodeguard}/kernels`; the list is `kernels` in\n")
	p("integration/kernels/kernels_test.go. The **native** row is the kernel of the machine that\n")
	p("generated this file, running the same binary without qemu.\n\n")
	p("Regenerate (as root): `make kernels KERNELS_FLAGS=-update`. Time is the wall time of boot and\n")
	p("tests; TCG (no KVM) is several times slower than KVM, and so are its verifier times.\n\n")
	p("Generated %s %s.\n\n", when.UTC().Format("2006-01-02 15:04 MST"), run)
	p("| kernel | release | package | accelerator | time | result |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, r := range results {
		pkg := "—"
		if r.Package != "" {
			pkg = fmt.Sprintf("`%s` %s", r.Package, r.Version)
		}
		p("| %s | %s | %s | %s | %s | %s |\n", r.Label, orDash(r.Kernel), pkg, orDash(r.Accel), seconds(r.Elapsed), cell(r.status(), 80))
	}
	for _, r := range results {
		p("\n## %s: %s\n\n", r.Label, orDash(r.Kernel))
		if r.Package != "" {
			p("Package `%s` %s. ", r.Package, r.Version)
		} else {
			p("This machine's own kernel, not a Debian package. ")
		}
		p("Accelerator %s, %s. Result: %s", orDash(r.Accel), seconds(r.Elapsed), r.status())
		if f := r.failed(); r.Err == "" && len(f) > 0 {
			p(" (%s)", strings.Join(f, ", "))
		}
		p(".\n")
		if len(r.Tests) == 0 && len(r.Programs) == 0 {
			continue
		}
		if len(r.Programs) > 0 {
			p("\n| hook | attach | variant | program | processed insns | verifier time |\n| --- | --- | --- | --- | --- | --- |\n")
			for _, pr := range r.Programs {
				insns := pr.Insns
				if pr.Refused != "" {
					insns = "refused: " + cell(pr.Refused, 120)
				}
				p("| %s | %s | %s | %s | %s | %s |\n", orDash(pr.Hook), orDash(pr.Attach), orDash(pr.Variant), orDash(pr.Name), insns, orDash(pr.Time))
			}
		} else {
			p("\nNo `bpf-program` lines: this build's tests do not log processed instructions (TestVerifierHeadroom).\n")
		}
		p("\n| test | result | note |\n| --- | --- | --- |\n")
		for _, t := range r.Tests {
			p("| %s | %s | %s |\n", t.Name, t.Status, cell(t.Note, 240))
		}
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func seconds(d time.Duration) string {
	if d == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f s", d.Seconds())
}

// cell fits s in one Markdown table cell.
func cell(s string, max int) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// tail is the last n bytes of s, from a line start when there is one.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
		s = s[i+1:]
	}
	return "…\n" + s
}
