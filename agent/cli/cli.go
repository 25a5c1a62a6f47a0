// Package cli implements the nodeguard command line. Each subcommand lives in
// its own file and registers itself; the flags and exit codes are a public
// contract (README "Command line").
//
// This package holds the one-shot commands, which the light nodeguard
// executable links. The agent's commands (AgentCommands: run, watch, report)
// link Prometheus, client-go and the eBPF detector, whose initialisers every
// command would pay for at start: they live in agent/cli/agentcmd, linked by
// nodeguard-agent alone, and the light nodeguard hands them to that
// executable (agent/cli/forward).
package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
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
	// Via is the executable that runs the command when this one hands it
	// over (AgentExecutable in the light nodeguard); usage says so.
	Via string
	// Hidden commands are for the agent's own use and not listed.
	Hidden bool
}

var commands = map[string]Command{}

// Register adds a subcommand.
func Register(c Command) {
	if _, dup := commands[c.Name]; dup {
		panic("cli: duplicate command " + c.Name)
	}
	if c.Run == nil {
		panic("cli: command " + c.Name + " has no Run")
	}
	commands[c.Name] = c
}

// Beside is the path of the file name in the directory of this process's
// executable, symlinks resolved: where the two executables find each other.
func Beside(name string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	if self, err = filepath.EvalSymlinks(self); err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(self), name), nil
}

// AgentExecutable is the executable with every command, the agent's among
// them; it is installed next to the light nodeguard.
const AgentExecutable = "nodeguard-agent"

// agentSummaries are the commands only AgentExecutable links.
var agentSummaries = map[string]string{
	"run":    "run as an agent: rescan periodically and serve /metrics",
	"watch":  "print eBPF runtime anomaly events live (Ctrl-C to stop)",
	"report": "summarize the cluster's nodes from their reports and conditions in the API",
}

// AgentCommands are the commands only AgentExecutable links, sorted by
// name, without Run: agent/cli/agentcmd registers them with theirs, and the
// light nodeguard with one that hands them over.
func AgentCommands() []Command {
	out := make([]Command, 0, len(agentSummaries))
	for n, s := range agentSummaries {
		out = append(out, Command{Name: n, Summary: s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Run runs the process's command line (os.Args) and exits with its code;
// SIGTERM and Ctrl-C cancel the command's context. It is the main of both
// executables, which differ in the commands they link.
func Run() {
	std := IO{Stdout: os.Stdout, Stderr: os.Stderr}
	if args := os.Args[1:]; len(args) > 0 {
		// A command another executable serves replaces this process: with
		// the default signal actions until then, a SIGTERM meanwhile still
		// stops it rather than cancelling a context nobody reads.
		if c, ok := commands[args[0]]; ok && c.Via != "" {
			os.Exit(c.Run(context.Background(), args[1:], std))
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := Main(ctx, os.Args[1:], std)
	stop()
	os.Exit(code)
}

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, io IO) int {
	if len(args) == 2 && args[0] == "help" {
		if _, ok := commands[args[1]]; ok {
			// nodeguard help COMMAND is nodeguard COMMAND --help.
			return Main(ctx, []string{args[1], "--help"}, io)
		}
	}
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
	for n, c := range commands {
		if !c.Hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var via []string
	for _, n := range names {
		c := commands[n]
		if c.Via == "" {
			fmt.Fprintf(w, "  %-10s %s\n", n, c.Summary)
			continue
		}
		fmt.Fprintf(w, "  %-10s %s (%s)\n", n, c.Summary, c.Via)
		if !slices.Contains(via, c.Via) {
			via = append(via, c.Via)
		}
	}
	for _, v := range via {
		fmt.Fprintf(w, "\nCommands marked (%s) run the %s executable installed next to this one.\n", v, v)
	}
	fmt.Fprintln(w, "\nRun 'nodeguard COMMAND --help' for a command's flags.")
}

// NewFlagSet returns a FlagSet that reports errors instead of exiting.
func NewFlagSet(name string, io IO) *flag.FlagSet {
	fs := flag.NewFlagSet("nodeguard "+name, flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	return fs
}

// ParseFlags parses args, rejecting stray positional arguments. It returns
// (exit code, false) when the command should stop.
func ParseFlags(fs *flag.FlagSet, args []string) (int, bool) {
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
