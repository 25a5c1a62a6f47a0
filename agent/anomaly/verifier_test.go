package anomaly

import (
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/nodeguard/nodeguard/bpf"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// verifierBudget is the most processed instructions a program may cost the
// verifier: 15% of its 1M limit, so that a kernel whose verifier explores
// more states than this one still has room.
const verifierBudget = 150_000

// requireBPF says a refused program fails a test instead of skipping it: in
// CI and in the kernel matrix's guests.
func requireBPF() bool {
	return os.Getenv("CI") == "true" || os.Getenv("NODEGUARD_REQUIRE_BPF") == "1"
}

// TestVerifierHeadroom loads every program in every variant and attach type,
// with the default policy's configuration, and holds each to the budget. Its
// bpf-program lines are what the kernel matrix and docs/kernels.md read.
func TestVerifierHeadroom(t *testing.T) {
	needRoot(t)
	spec, err := bpf.LoadRuntime()
	if err != nil {
		t.Fatal(err)
	}
	pol := policy.Section[Policy](policy.Default(), PolicySection)
	if err := configure(spec, pol, DefaultRingBufferBytes); err != nil {
		t.Fatal(err)
	}
	for h := range hooks {
		attached := false
		for _, v := range hookVariants(hook(h)) {
			for i, name := range hooks[h].programs {
				a := Attempt{Program: name, Variant: v.name, Attach: [2]string{"tp_btf", "raw_tp"}[i]}
				prog, l, err := loadProgram(spec, name, v, nil, i == 0, hooks[h].tracepoint, &a)
				if err != nil {
					t.Logf("bpf-refused hook=%s variant=%s attach=%s program=%s err=%q", hooks[h].name, v.name, a.Attach, name, err)
					var ve *ebpf.VerifierError
					if errors.As(err, &ve) {
						t.Logf("verifier's last lines: %q", a.VerifierTail)
						if requireBPF() {
							t.Errorf("%s (%s): the verifier refused it: %v", name, v.name, err)
						}
					}
					continue
				}
				l.Close()
				prog.Close()
				attached = true
				t.Logf("bpf-program hook=%s variant=%s attach=%s program=%s insns=%d time=%s",
					hooks[h].name, v.name, a.Attach, name, a.Insns, a.Duration.Round(1e5))
				if a.Insns > verifierBudget {
					t.Errorf("%s (%s): %d processed instructions, over the budget of %d", name, v.name, a.Insns, verifierBudget)
				}
			}
		}
		if !attached && hook(h) != hookModule {
			t.Errorf("hook %s: no variant loads on this kernel", hooks[h].name)
		}
	}
}
