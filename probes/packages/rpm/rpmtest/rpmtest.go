// Package rpmtest writes real rpm databases for tests: packages rpmbuild
// makes, recorded by rpm -i --justdb, as on a RHEL host.
package rpmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// Tools returns rpm's and rpmbuild's paths; without them the test fails
// under CI (which installs Debian's rpm package) and is skipped elsewhere.
func Tools(t testing.TB) (rpm, rpmbuild string) {
	t.Helper()
	rpm, err1 := exec.LookPath("rpm")
	rpmbuild, err2 := exec.LookPath("rpmbuild")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("rpm and rpmbuild are needed (Debian's rpm package)")
		}
		t.Skip("rpm or rpmbuild not installed")
	}
	return rpm, rpmbuild
}

// Install builds a noarch package name-1.0-1 holding files (absolute paths;
// a path ending in "/" is a directory the package owns) and records it in
// ROOT/var/lib/rpm/rpmdb.sqlite. It returns the database's directory.
func Install(t testing.TB, root, name string, files ...string) string {
	t.Helper()
	rpm, rpmbuild := Tools(t)
	work := t.TempDir()
	var install, list strings.Builder
	for _, f := range files {
		dir := strings.TrimSuffix(f, "/")
		if strings.HasSuffix(f, "/") {
			fmt.Fprintf(&install, "mkdir -p %%{buildroot}%s\n", dir)
		} else {
			fmt.Fprintf(&install, "mkdir -p %%{buildroot}%s\necho %s > %%{buildroot}%s\n", path.Dir(f), name, f)
		}
		fmt.Fprintf(&list, "%s\n", dir)
	}
	spec := filepath.Join(work, name+".spec")
	body := fmt.Sprintf("Name: %s\nVersion: 1.0\nRelease: 1\nSummary: nodeguard test package\nLicense: MIT\nBuildArch: noarch\n"+
		"%%description\nTest files.\n%%install\n%s%%files\n%s", name, install.String(), list.String())
	if err := os.WriteFile(spec, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command(rpmbuild, "--quiet", "-bb", "--define", "_topdir "+filepath.Join(work, "build"),
		"--define", "_rpmdir "+filepath.Join(work, "rpms"), "--define", "_build_id_links none", spec)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("rpmbuild: %v\n%s", err, out)
	}
	rpms, _ := filepath.Glob(filepath.Join(work, "rpms", "*", "*.rpm"))
	if len(rpms) != 1 {
		t.Fatalf("rpmbuild made %v", rpms)
	}
	dbpath := filepath.Join(root, "var/lib/rpm")
	if err := os.MkdirAll(dbpath, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(rpm, "--dbpath", dbpath, "-i", "--justdb", "--nodeps", rpms[0]).CombinedOutput(); err != nil {
		t.Fatalf("rpm -i --justdb: %v\n%s", err, out)
	}
	return dbpath
}
