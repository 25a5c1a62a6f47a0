package cli

import (
	"flag"
	"fmt"
	"os"

	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/agent/logging"
	"github.com/nodeguard/nodeguard/agent/role"
	"github.com/nodeguard/nodeguard/agent/scan"
	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// ScanFlags are the flags shared by scan and run.
type ScanFlags struct {
	hostRoot, role, policy, logLevel string
}

// Register adds the flags to fs.
func (f *ScanFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.hostRoot, "host-root", "/", "the host's root filesystem as mounted in the agent (/host in the DaemonSet)")
	fs.StringVar(&f.role, "role", "auto", "node role: auto, control-plane or worker")
	fs.StringVar(&f.policy, "policy", "", "policy file overriding the built-in defaults (YAML)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// Scanner builds a Scanner from the flags; errors are usage errors.
func (f *ScanFlags) Scanner(io IO, only []string) (*scan.Scanner, zerolog.Logger, error) {
	log, err := logging.New(io.Stderr, f.logLevel)
	if err != nil {
		return nil, log, err
	}
	r, auto, err := role.Parse(f.role)
	if err != nil {
		return nil, log, err
	}
	if st, err := os.Stat(f.hostRoot); err != nil || !st.IsDir() {
		return nil, log, fmt.Errorf("--host-root %s: not a directory", f.hostRoot)
	}
	root, err := hostfs.Open(f.hostRoot)
	if err != nil {
		return nil, log, err
	}
	pol, err := policy.Load(f.policy)
	if err != nil {
		return nil, log, err
	}
	ps, err := probes.New(only)
	if err != nil {
		return nil, log, fmt.Errorf("--only: %w", err)
	}
	sc := &scan.Scanner{Root: root, Policy: pol, Probes: ps, Node: scan.NodeName(root), Log: log}
	if !auto {
		sc.Role, sc.RoleReason = r, "--role flag"
	}
	return sc, log, nil
}
