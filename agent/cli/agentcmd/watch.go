package agentcmd

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nodeguard/nodeguard/agent/anomaly"
	"github.com/nodeguard/nodeguard/agent/cli"
	"github.com/nodeguard/nodeguard/agent/role"
	"github.com/nodeguard/nodeguard/probes"
)

func watch(ctx context.Context, args []string, io cli.IO) int {
	fs := cli.NewFlagSet("watch", io)
	var sf cli.ScanFlags
	sf.Register(fs)
	asJSON := fs.Bool("json", false, "one JSON object per event instead of text")
	if code, ok := cli.ParseFlags(fs, args); !ok {
		return code
	}
	sc, log, err := sf.Scanner(io, nil)
	if err != nil {
		fmt.Fprintf(io.Stderr, "nodeguard watch: %v\n", err)
		return cli.ExitUsage
	}
	defer sc.Root.Close()
	r := sc.Role
	if r == "" {
		r, _ = role.Detect(sc.Root)
	}
	det, err := anomaly.Start(ctx, anomaly.Options{
		Root: sc.Root, Policy: sc.Policy, Log: log, Role: func() probes.Role { return r },
		// As for run: an admin's nodeguard scan beside this executable loads
		// the socket iterator, which is no bpf-load to report.
		Sibling: lightSibling(),
	})
	if err != nil {
		fmt.Fprintf(io.Stderr, "nodeguard watch: %v\n", err)
		return cli.ExitUsage
	}
	defer det.Close()
	events, cancel := det.Subscribe(4096)
	defer cancel()
	select {
	case <-det.Loaded():
	case <-ctx.Done():
		return cli.ExitOK
	}
	if err := det.Err(); err != nil {
		fmt.Fprintf(io.Stderr, "nodeguard watch: %v\n", err)
		return cli.ExitUsage
	}
	if !*asJSON {
		var active, inactive []string
		for _, st := range det.Rules() {
			if st.Active {
				active = append(active, st.Rule.String())
			} else {
				inactive = append(inactive, fmt.Sprintf("%s (%s)", st.Rule, st.Reason))
			}
		}
		fmt.Fprintf(io.Stderr, "watching %d rules on a %s node: %s\n", len(active), r, strings.Join(active, ", "))
		for _, s := range inactive {
			fmt.Fprintf(io.Stderr, "not watching %s\n", s)
		}
	}
	enc := json.NewEncoder(io.Stdout)
	for {
		select {
		case <-ctx.Done():
			return cli.ExitOK
		case ev, ok := <-events:
			if !ok {
				if err := det.Err(); err != nil {
					fmt.Fprintf(io.Stderr, "nodeguard watch: %v\n", err)
					return cli.ExitUsage
				}
				return cli.ExitOK
			}
			if *asJSON {
				enc.Encode(ev)
				continue
			}
			fmt.Fprintf(io.Stdout, "%s %-8s %-28s %s\n", ev.Time.Local().Format("15:04:05.000"),
				strings.ToUpper(string(ev.Severity)), ev.Rule, ev.Message)
			if len(ev.Args) > 0 {
				fmt.Fprintf(io.Stdout, "%42s args: %s\n", "", strings.Join(ev.Args, " "))
			}
		}
	}
}
