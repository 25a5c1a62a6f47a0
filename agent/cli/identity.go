package cli

import (
	"context"

	"github.com/nodeguard/nodeguard/bpf/identity"
)

// The agent starts its light sibling with this command once, so that the
// kernel knows the sibling's executable as the agent's (bpf/identity).
func init() {
	Register(Command{Name: identity.Command, Hidden: true, Summary: "announce this executable to the agent's runtime rules",
		Run: func(context.Context, []string, IO) int {
			identity.Announce()
			return ExitOK
		}})
}
