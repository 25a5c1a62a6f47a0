package cli

import (
	"context"
	"fmt"

	"github.com/nodeguard/nodeguard/agent/release"
)

func init() {
	Register(Command{Name: "version", Summary: "print the version", Run: func(_ context.Context, args []string, io IO) int {
		fs := NewFlagSet("version", io)
		if code, ok := ParseFlags(fs, args); !ok {
			return code
		}
		fmt.Fprintf(io.Stdout, "nodeguard %s (%s)\n", release.Version, release.GoVersion())
		return ExitOK
	}})
}
