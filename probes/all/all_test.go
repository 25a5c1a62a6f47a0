package all

import (
	"testing"

	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// TestBuiltInPolicyDefaults decodes and validates every probe's built-in
// policy section: they are decoded lazily at run time, so a broken default
// would otherwise surface only when its probe first runs.
func TestBuiltInPolicyDefaults(t *testing.T) {
	if len(policy.Sections()) < 8 {
		t.Fatalf("only %d policy sections registered: %v", len(policy.Sections()), policy.Sections())
	}
	if _, err := policy.Parse(nil, "built-in defaults"); err != nil {
		t.Fatal(err)
	}
}
