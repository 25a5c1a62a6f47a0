// Package systemd tests nodeguard as a systemd service without a running
// systemd: the real `nodeguard run` speaks sd_notify to a socket the test
// listens on, systemd-analyze judges the unit in manifests/systemd, and strace
// shows the agent's system calls and socket families fit the unit's filters.
package systemd

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/nodeguard/nodeguard/integration/agentproc"
)

var (
	binDir    string
	buildOnce sync.Mutex
	binPath   string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nodeguard-systemd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// agentBinary builds the real nodeguard once for the package.
func agentBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Lock()
	defer buildOnce.Unlock()
	if binPath == "" {
		binPath = agentproc.Build(t, binDir)
	}
	return binPath
}

// unitPath is manifests/systemd/nodeguard.service in this checkout.
func unitPath(t *testing.T) string {
	t.Helper()
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Join(filepath.Dir(self), "..", "..", "manifests", "systemd", "nodeguard.service")
}
