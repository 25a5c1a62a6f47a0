package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/sshd"
)

func init() {
	Register(Command{Name: "sshd", Summary: "show sshd's effective configuration (sshd effective)", Run: runSSHD})
}

func runSSHD(ctx context.Context, args []string, io IO) int {
	if len(args) == 0 || args[0] != "effective" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(io.Stderr, "Usage: nodeguard sshd effective [--host-root DIR] [-f FILE] [-C user=U,host=H,addr=A,laddr=L,lport=P,rdomain=R]")
			return ExitOK
		}
		fmt.Fprintln(io.Stderr, "Usage: nodeguard sshd effective [--host-root DIR] [-f FILE] [-C user=U,host=H,addr=A,laddr=L,lport=P,rdomain=R]")
		return ExitUsage
	}
	fs := NewFlagSet("sshd effective", io)
	hostRoot := fs.String("host-root", "/", "the host's root filesystem as mounted in the agent (/host in the DaemonSet)")
	file := fs.String("f", sshd.DefaultConfigPath, "sshd configuration file, a path on the host")
	spec := fs.String("C", "", "connection to evaluate Match blocks for, as sshd -C: user=U,host=H,addr=A,laddr=L,lport=P,rdomain=R")
	if code, ok := ParseFlags(fs, args[1:]); !ok {
		return code
	}
	conn, err := sshd.ParseConnSpec(*spec)
	if err != nil {
		fmt.Fprintln(io.Stderr, err)
		return ExitUsage
	}
	path := *file
	if !filepath.IsAbs(path) {
		// Like sshd -f, a relative path is taken from the working directory.
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
	}
	if st, err := os.Stat(*hostRoot); err != nil || !st.IsDir() {
		fmt.Fprintf(io.Stderr, "nodeguard sshd effective: --host-root %s: not a directory\n", *hostRoot)
		return ExitUsage
	}
	root, err := hostfs.Open(*hostRoot)
	if err != nil {
		fmt.Fprintf(io.Stderr, "nodeguard sshd effective: %v\n", err)
		return ExitUsage
	}
	defer root.Close()
	cfg, err := sshd.Effective(root, path, conn)
	if err != nil {
		var refused *sshd.RefusedError
		if errors.As(err, &refused) {
			for _, p := range refused.Problems {
				fmt.Fprintln(io.Stderr, p.Message)
			}
			return ExitFindings
		}
		fmt.Fprintf(io.Stderr, "nodeguard sshd effective: %v\n", err)
		return ExitUsage
	}
	for _, l := range cfg.Lines() {
		fmt.Fprintln(io.Stdout, l)
	}
	return ExitOK
}
