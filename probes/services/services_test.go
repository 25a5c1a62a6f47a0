package services

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/probetest"
)

func runProbe(t testing.TB, dir string) []finding.Finding {
	t.Helper()
	return probetest.Run(t, &Probe{}, dir)
}

// byService indexes service findings by service name, others by id.
func byService(fs []finding.Finding) map[string]finding.Finding {
	m := map[string]finding.Finding{}
	for _, f := range fs {
		k := f.Evidence.Get("service")
		if k == "" {
			k = f.ID
		}
		if _, dup := m[k]; !dup {
			m[k] = f
		}
	}
	return m
}

func expect(t *testing.T, fs []finding.Finding, svc string, st finding.Status, msg string) {
	t.Helper()
	f, ok := byService(fs)[svc]
	if !ok {
		t.Errorf("no finding for %s", svc)
		return
	}
	if f.Status != st || !strings.Contains(f.Message, msg) {
		t.Errorf("%s: %s %q (%v), want %s with %q", svc, f.Status, f.Message, f.Evidence, st, msg)
	}
}

func TestDebianNode(t *testing.T) {
	fs := runProbe(t, "testdata/debian")
	expect(t, fs, "avahi", finding.Fail, "avahi-daemon.service ← /etc/systemd/system/multi-user.target.wants")
	expect(t, fs, "avahi", finding.Fail, "avahi-daemon.socket ← /etc/systemd/system/sockets.target.wants")
	expect(t, fs, "cups", finding.Fail, "cups.service ← triggered by cups.socket")
	expect(t, fs, "rpcbind", finding.Fail, "enabled")
	expect(t, fs, "auditd", finding.Fail, "is not installed")
	expect(t, fs, "telnet", finding.Pass, "not installed")
	expect(t, fs, IDSystemd, finding.Skip, "neither /run/systemd/private nor the system bus socket is reachable")
	if f := byService(fs)["cups"]; f.Evidence.Get("activeState") != Unavailable || f.Severity != finding.Medium {
		t.Errorf("cups: %+v", f)
	}
	for _, f := range fs {
		if f.Status == finding.Error {
			t.Errorf("error on a stock tree: %s", f.Message)
		}
	}
}

func TestRHELNode(t *testing.T) {
	fs := runProbe(t, "testdata/rhel")
	expect(t, fs, "auditd", finding.Pass, "auditd.service ← /etc/systemd/system/multi-user.target.wants")
	// Accept=true: the socket starts telnet@.service instances.
	expect(t, fs, "telnet", finding.Fail, "telnet@.service ← triggered by telnet.socket")
	// Masked in /etc: the vendor's sockets.target.wants link does not count.
	expect(t, fs, "rpcbind", finding.Pass, "masked: rpcbind.service, rpcbind.socket")
	// Service= from a drop-in, read with go-systemd's unit parser.
	expect(t, fs, "ftp", finding.Fail, "vsftpd.service ← triggered by ftp-activation.socket")
	expect(t, fs, "tftp", finding.Pass, "installed but not enabled")
}

func TestHardenedNode(t *testing.T) {
	fs := runProbe(t, "testdata/hardened")
	for _, f := range fs {
		if f.Status != finding.Pass && f.ID != IDSystemd {
			t.Errorf("%s %s: %s", f.ID, f.Status, f.Message)
		}
	}
	expect(t, fs, "avahi", finding.Pass, "masked: avahi-daemon.service")
	expect(t, fs, "cups", finding.Pass, "installed but not enabled; whether it runs is unknown")
}

func TestBrokenNode(t *testing.T) {
	dir := probetest.CopyTree(t, "testdata/broken")
	huge, err := os.Create(filepath.Join(dir, "lib/systemd/system/snmpd.timer"))
	if err != nil {
		t.Fatal(err)
	}
	huge.Truncate(100 << 20)
	huge.Close()

	fs := runProbe(t, dir)
	var errs []string
	for _, f := range fs {
		if f.ID == IDUnits {
			errs = append(errs, f.Message)
		}
	}
	all := strings.Join(errs, "\n")
	for _, want := range []string{
		"/lib/systemd/system/cups.socket: binary data",
		"/lib/systemd/system/cups.path: line too long",
		"/lib/systemd/system/avahi-daemon.socket: too many levels of symbolic links",
		"/lib/systemd/system/rpcbind.socket:",
		"/lib/systemd/system/snmpd.timer: file exceeds the size limit",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing error %q in:\n%s", want, all)
		}
	}
	// A dangling link in a .wants directory still enables the name.
	expect(t, fs, "telnet", finding.Fail, "telnetd.service ← /etc/systemd/system/multi-user.target.wants")
}

func TestNoSystemd(t *testing.T) {
	fs := runProbe(t, t.TempDir())
	if len(fs) != 1 || fs[0].Status != finding.Skip || fs[0].ID != IDSystemd {
		t.Fatalf("%+v", fs)
	}
}

func TestPolicyValidation(t *testing.T) {
	for doc, want := range map[string]string{
		"services:\n  unneeded:\n    - {name: x, description: d, severity: low, units: [telnet]}\n":                                                                        "is not a service",
		"services:\n  unneeded:\n    - {name: X, description: d, severity: low, units: [a.service]}\n":                                                                     "name",
		"services:\n  required:\n    - {name: a, description: d, severity: low, units: [a.service]}\n    - {name: a, description: d, severity: low, units: [b.service]}\n": "used twice",
		"services:\n  required:\n    - {name: y, description: d, severity: severe, units: [a.service]}\n":                                                                  "severity",
		"services:\n  required:\n    - {name: y, description: d, severity: low, units: []}\n":                                                                              "units is required",
	} {
		if _, err := policy.Parse([]byte(doc), "test"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", doc, err, want)
		}
	}
}
