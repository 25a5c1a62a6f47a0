package packages

import (
	"strings"
	"testing"

	"github.com/nodeguard/nodeguard/probes/model/policy"
)

func TestPolicyValidation(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"packages:\n  staleListsAfter: soon\n", "staleListsAfter"},
		{"packages:\n  staleListsAfter: -1h\n", "staleListsAfter"},
		{"packages:\n  securityUpdatesSeverity: urgent\n", "securityUpdatesSeverity"},
		{"packages:\n  maxNames: -1\n", "maxNames"},
		{"packages:\n  unknownKey: 1\n", "unknownKey"},
	} {
		_, err := policy.Parse([]byte(c.yaml), "test")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want one naming %s", c.yaml, err, c.want)
		}
	}
	p, err := policy.Parse([]byte("packages:\n  staleListsAfter: 24h\n  maxNames: 3\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	if s := policy.Section[Policy](p, Name); s.staleAfter.Hours() != 24 || s.MaxNames != 3 || s.SecurityUpdatesSeverity != "high" {
		t.Errorf("merged policy: %+v", s)
	}
}
