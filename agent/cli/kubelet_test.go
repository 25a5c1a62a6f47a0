package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var updateKubeletGolden = flag.Bool("update-kubelet-golden", false, "rewrite testdata/kubelet-effective/*.yaml")

// TestKubeletEffectiveGolden prints `nodeguard kubelet effective` for every
// kubelet fixture and compares it with the reviewed output.
func TestKubeletEffectiveGolden(t *testing.T) {
	for _, fx := range []string{"kubeadm-worker", "kubeadm-control-plane", "kubeadm-old-flags", "flags-only", "not-running", "dropins", "hardened", "loose"} {
		for _, format := range []string{"yaml", "json"} {
			t.Run(fx+"/"+format, func(t *testing.T) {
				var out, errOut bytes.Buffer
				code := Main(context.Background(), []string{"kubelet", "effective",
					"--host-root", filepath.Join("..", "..", "probes", "kubelet", "testdata", fx), "--output", format},
					IO{Stdout: &out, Stderr: &errOut})
				if code != ExitOK {
					t.Fatalf("exit %d: %s", code, errOut.String())
				}
				golden := filepath.Join("testdata", "kubelet-effective", fx+"."+format)
				if *updateKubeletGolden {
					os.MkdirAll(filepath.Dir(golden), 0o755)
					if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run with -update-kubelet-golden to create it)", err)
				}
				if !bytes.Equal(out.Bytes(), want) {
					t.Errorf("output differs from %s:\n%s", golden, out.String())
				}
			})
		}
	}
}

func TestKubeletEffectiveErrors(t *testing.T) {
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"malformed config": {[]string{"kubelet", "effective", "--host-root", "../../probes/kubelet/testdata/malformed"}, "/var/lib/kubelet/config.yaml"},
		"no kubelet":       {[]string{"kubelet", "effective", "--host-root", t.TempDir()}, "no kubelet"},
		"bad output":       {[]string{"kubelet", "effective", "--output", "xml"}, "want yaml or json"},
		"no subcommand":    {[]string{"kubelet"}, "Usage"},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := Main(context.Background(), c.args, IO{Stdout: &out, Stderr: &errOut}); code != ExitUsage {
				t.Fatalf("exit %d, want %d", code, ExitUsage)
			}
			if !bytes.Contains(errOut.Bytes(), []byte(c.want)) {
				t.Errorf("stderr %q lacks %q", errOut.String(), c.want)
			}
		})
	}
}
