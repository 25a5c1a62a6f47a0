package manifests

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nodeguard/nodeguard/integration/agentproc"
)

// listenerHelperEnv makes the test binary a helper process that holds a
// listening socket (so the agent has someone else's socket to attribute).
const listenerHelperEnv = "NODEGUARD_MANIFESTS_LISTENER_HELPER"

var binDir string

func TestMain(m *testing.M) {
	if os.Getenv(listenerHelperEnv) != "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
		// Sleep rather than select{}: with no other goroutine the runtime
		// would call a bare select{} a deadlock and exit, closing the socket.
		for {
			time.Sleep(time.Hour)
		}
	}
	dir, err := os.MkdirTemp("", "nodeguard-manifests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var agentBuild struct {
	sync.Mutex
	path string
}

// agentBinary builds the real nodeguard once for all tests of the package.
func agentBinary(t *testing.T) string {
	t.Helper()
	agentBuild.Lock()
	defer agentBuild.Unlock()
	if agentBuild.path == "" {
		agentBuild.path = agentproc.Build(t, binDir)
	}
	if _, err := os.Stat(filepath.Join(binDir, "nodeguard")); err != nil {
		t.Fatal(err)
	}
	return agentBuild.path
}
