// Package cli implements the nodeguard command line. Each subcommand lives in
// its own file and registers itself; the flags and exit codes are a public
// contract (README "Command line").
package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Exit codes of every subcommand.
const (
	ExitOK       = 0
	ExitFindings = 1 // scan: a failing finding at or above --fail-on
	ExitUsage    = 2 // usage error, or nodeguard cannot run at all
)

// IO is where a command writes.
type IO struct {
	Stdout, Stderr io.Writer
}

// Command is one subcommand.
type Command struct {
	Name    string
	Summary string
	Run     func(ctx context.Context, args []string, io IO) int
}

var commands = map[string]Command{}

// Register adds a subcommand.
func Register(c Command) {
	if _, dup := commands[c.Name]; dup {
		panic("cli: duplicate command " + c.Name)
	}
	commands[c.Name] = c
}

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, io IO) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(io.Stderr)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(io.Stderr, "nodeguard: unknown command %q\n\n", args[0])
		usage(io.Stderr)
		return ExitUsage
	}
	return c.Run(ctx, args[1:], io)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "nodeguard audits a Kubernetes node against the Kubernetes security guidance.")
	fmt.Fprintln(w, "\nUsage: nodeguard COMMAND [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].Summary)
	}
	fmt.Fprintln(w, "\nRun 'nodeguard COMMAND --help' for a command's flags.")
}

// newFlagSet returns a FlagSet that reports errors instead of exiting.
func newFlagSet(name string, io IO) *flag.FlagSet {
	fs := flag.NewFlagSet("nodeguard "+name, flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	return fs
}

// parseFlags parses args, rejecting stray positional arguments. It returns
// (exit code, false) when the command should stop.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return ExitOK, false
		}
		return ExitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return ExitUsage, false
	}
	return 0, true
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
