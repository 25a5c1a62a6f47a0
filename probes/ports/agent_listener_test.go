package ports

import (
	"net/netip"
	"testing"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// TestAgentListenerNames: `nodeguard run` becomes nodeguard-agent in the
// same process (the light nodeguard executes it), so the agent's endpoint
// and the default metrics rule allow both names, and no other process.
func TestAgentListenerNames(t *testing.T) {
	pol := policy.Section[Policy](policy.Default(), Name)
	agent := []probes.Listener{{Protocol: "tcp", Port: 9900}}
	for _, c := range []struct {
		port uint16
		name string
		want VerdictKind
	}{
		{9900, "nodeguard", VerdictAllowed},
		{9900, "nodeguard-agent", VerdictAllowed},
		{9900, "nc", VerdictUnexpected},
		{9809, "nodeguard", VerdictAllowed},
		{9809, "nodeguard-agent", VerdictAllowed},
		{9809, "nc", VerdictUnexpected},
	} {
		l := &Listener{Socket: Socket{Protocol: "tcp", Addr: netip.MustParseAddr("0.0.0.0"), Port: c.port},
			Owners: []*Process{{PID: 42, Name: c.name, Exe: "/usr/local/bin/" + c.name}}}
		if got := pol.Judge(probes.Worker, agent, l).Kind; got != c.want {
			t.Errorf("%s on %d: %s, want %s", c.name, c.port, got, c.want)
		}
	}
}
