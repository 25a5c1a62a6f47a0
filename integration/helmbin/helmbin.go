// Package helmbin finds the helm binary `make helm-binary` builds from the Go
// module proxy into ~/.cache/nodeguard/helm-<Version>, for the tests of the
// chart in manifests/helm/nodeguard.
package helmbin

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Version is the helm release the tests use; keep it in step with the
// Makefile's HELM_VERSION.
const Version = "v4.3.2"

// Env names a helm binary to use instead of the cache's.
const Env = "NODEGUARD_HELM"

// Binary returns the path of helm. Without it the test is skipped, except
// under CI (CI=true), where a missing helm is a failure.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(Env); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(home, ".cache", "nodeguard", "helm-"+Version, "helm")
	if _, err := os.Stat(p); err != nil {
		msg := fmt.Sprintf("no helm at %s: run `make helm-binary` (go install helm.sh/helm/v4/cmd/helm@%s) or set %s", p, Version, Env)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// Run runs helm with a throwaway home, so that no user's repositories or
// plugins change the result, and the given extra environment. The error
// carries helm's output.
func Run(t testing.TB, env []string, args ...string) (string, error) {
	t.Helper()
	bin := Binary(t)
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"),
	)
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String() + errb.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), nil
}
