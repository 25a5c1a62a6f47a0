package cli

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/nodeguard/nodeguard/agent/export/report"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

func init() {
	Register(Command{Name: "scan", Summary: "audit the host once and print the findings", Run: runScan})
}

// scanMemoryLimit is the heap size at which a one-shot scan starts to
// collect garbage: twice what 10,000 listeners need, and far below the
// 250 MiB of garbage that streaming a 100,000-record OSV bundle leaves.
const scanMemoryLimit = 64 << 20

func runScan(ctx context.Context, args []string, io IO) int {
	fs := NewFlagSet("scan", io)
	var sf ScanFlags
	sf.Register(fs)
	only := fs.String("only", "", "run only these probes (comma-separated)")
	output := fs.String("output", "table", "output format: table or json")
	failOn := fs.String("fail-on", "high", "exit 1 when a failing finding is at or above this severity: critical, high, medium or low")
	verbose := fs.Bool("verbose", false, "table output: list passing and skipped findings too")
	if code, ok := ParseFlags(fs, args); !ok {
		return code
	}
	if *output != "table" && *output != "json" {
		fmt.Fprintf(io.Stderr, "nodeguard scan: --output %q: want table or json\n", *output)
		return ExitUsage
	}
	sev, err := finding.ParseSeverity(*failOn)
	if err != nil || sev == finding.Info {
		fmt.Fprintf(io.Stderr, "nodeguard scan: --fail-on %q: want critical, high, medium or low\n", *failOn)
		return ExitUsage
	}
	sc, _, err := sf.Scanner(io, splitList(*only))
	if err != nil {
		fmt.Fprintf(io.Stderr, "nodeguard scan: %v\n", err)
		return ExitUsage
	}
	defer sc.Root.Close()
	// A one-shot scan allocates a few MiB (about 30 MiB with 10,000
	// sockets) and exits: collecting garbage along the way only costs time.
	// The memory limit still has the collector run if a host is far larger.
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(scanMemoryLimit)
	rep := sc.Scan(ctx)
	if *output == "json" {
		err = report.WriteJSON(io.Stdout, rep)
	} else {
		err = report.WriteTable(io.Stdout, rep, *verbose)
	}
	if err != nil {
		fmt.Fprintf(io.Stderr, "nodeguard scan: writing the report: %v\n", err)
		return ExitUsage
	}
	if rep.FailingAtOrAbove(sev) {
		return ExitFindings
	}
	return ExitOK
}
