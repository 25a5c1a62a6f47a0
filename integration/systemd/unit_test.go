package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-systemd/v22/unit"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/nodeguard/nodeguard/integration/agentproc"
)

const installedBinary = "/usr/local/bin/nodeguard"

// unitOptions parses the shipped unit.
func unitOptions(t *testing.T) []*unit.UnitOption {
	t.Helper()
	f, err := os.Open(unitPath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts, err := unit.DeserializeOptions(f)
	if err != nil {
		t.Fatalf("%s: %v", unitPath(t), err)
	}
	return opts
}

func serviceValues(opts []*unit.UnitOption, name string) []string {
	var vals []string
	for _, o := range opts {
		if o.Section == "Service" && o.Name == name {
			vals = append(vals, o.Value)
		}
	}
	return vals
}

// builtUnit copies the unit into a temp dir with ExecStart pointing at the
// binary this test built, since systemd-analyze checks that it exists.
func builtUnit(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(unitPath(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "ExecStart="+installedBinary+" ") {
		t.Fatalf("ExecStart does not run %s", installedBinary)
	}
	path := filepath.Join(t.TempDir(), "nodeguard.service")
	text := strings.ReplaceAll(string(data), "ExecStart="+installedBinary, "ExecStart="+agentBinary(t))
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze missing in CI (Debian package systemd)")
		}
		t.Skip("systemd-analyze not installed (Debian package systemd)")
	}
	return p
}

// TestUnitVerifies: systemd's own parser accepts every line, with nothing to
// warn about.
func TestUnitVerifies(t *testing.T) {
	sa := systemdAnalyze(t)
	path := builtUnit(t)
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestUnitExposure: systemd-analyze's exposure score (0 best, 10 worst)
// stays at the 3.5 the unit has; a removed directive raises it and fails.
func TestUnitExposure(t *testing.T) {
	sa := systemdAnalyze(t)
	path := builtUnit(t)
	out, err := exec.Command(sa, "security", "--offline=true", "--threshold=35", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Overall exposure level for nodeguard.service: ") {
		t.Fatalf("no overall exposure level:\n%s", out)
	}
}

// TestUnitMatchesDaemonSet: the service holds exactly the DaemonSet's
// capabilities, and the hardening directives the issue asks for are there.
func TestUnitMatchesDaemonSet(t *testing.T) {
	opts := unitOptions(t)
	data, err := os.ReadFile(filepath.Join(filepath.Dir(unitPath(t)), "..", "daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ds appsv1.DaemonSet
	if err := yaml.UnmarshalStrict(data, &ds); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range ds.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add {
		want = append(want, "CAP_"+string(c))
	}
	slices.Sort(want)
	for _, dir := range []string{"CapabilityBoundingSet", "AmbientCapabilities"} {
		vals := serviceValues(opts, dir)
		if len(vals) != 1 {
			t.Fatalf("%s set %d times, want once", dir, len(vals))
		}
		got := strings.Fields(vals[0])
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s=%s, want the DaemonSet's %s", dir, vals[0], strings.Join(want, " "))
		}
	}
	for name, value := range map[string]string{
		"Type": "notify", "NotifyAccess": "main", "Restart": "on-failure", "RestartPreventExitStatus": "2",
		"ProtectSystem": "strict", "ReadOnlyPaths": "/", "ProtectHome": "read-only", "PrivateTmp": "yes",
		"NoNewPrivileges": "yes", "ProtectKernelTunables": "yes", "ProtectControlGroups": "yes",
		"LockPersonality": "yes", "MemoryDenyWriteExecute": "yes", "RestrictNamespaces": "yes",
		"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
		"SystemCallFilter":        "@system-service bpf perf_event_open",
		"SystemCallArchitectures": "native",
	} {
		if got := serviceValues(opts, name); !slices.Equal(got, []string{value}) {
			t.Errorf("%s = %q, want [%s]", name, got, value)
		}
	}
	if len(serviceValues(opts, "WatchdogSec")) != 1 {
		t.Error("no WatchdogSec: a hung agent would never be restarted")
	}
	// ProtectKernelModules hides /usr/lib/modules, which the kmod probe reads.
	if v := serviceValues(opts, "ProtectKernelModules"); len(v) > 0 {
		t.Errorf("ProtectKernelModules=%s hides modules.builtin from the kmod probe", v)
	}
	// ProtectProc=invisible would hide the processes the agent inspects.
	if v := serviceValues(opts, "ProtectProc"); len(v) > 0 {
		t.Errorf("ProtectProc=%s hides other processes from the agent", v)
	}
}

// TestUnitExecStartFlags: every flag ExecStart passes exists in this build of
// `nodeguard run`, and the agent reads the host at /.
func TestUnitExecStartFlags(t *testing.T) {
	exec := serviceValues(unitOptions(t), "ExecStart")
	if len(exec) != 1 {
		t.Fatalf("ExecStart set %d times", len(exec))
	}
	args := strings.Fields(exec[0])
	if args[0] != installedBinary || args[1] != "run" {
		t.Fatalf("ExecStart=%s: want %s run ...", exec[0], installedBinary)
	}
	if !strings.Contains(exec[0], " --host-root / ") {
		t.Errorf("ExecStart=%s: the service must read the host at /", exec[0])
	}
	bin := agentBinary(t)
	for _, a := range args[2:] {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			name, _, _ = strings.Cut(name, "=")
			if !agentproc.SupportsFlag(t, bin, "run", name) {
				t.Errorf("ExecStart passes --%s, which `nodeguard run` does not know", name)
			}
		}
	}
}
