// Package sbom checks the SBOM `make sbom` writes (sbom.sh): valid CycloneDX
// JSON naming the main module and every module `go version -m` lists in the
// real binary, with the same versions and checksums.
package sbom

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nodeguard/nodeguard/integration/agentproc"
)

type bom struct {
	BOMFormat   string `json:"bomFormat"`
	SpecVersion string `json:"specVersion"`
	Metadata    struct {
		Component component `json:"component"`
	} `json:"metadata"`
	Components []component `json:"components"`
}

type component struct {
	Type    string `json:"type"`
	Name    string `json:"name"`
	Version string `json:"version"`
	PURL    string `json:"purl"`
	Hashes  []struct {
		Alg     string `json:"alg"`
		Content string `json:"content"`
	} `json:"hashes"`
}

// module is one "mod" or "dep" line of `go version -m`.
type module struct{ path, version, sum string }

// goVersionM parses `go version -m bin`: the main module and the
// dependencies, a replaced module counting as its replacement.
func goVersionM(t *testing.T, bin string) (module, []module) {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	var main module
	var deps []module
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		m := module{path: f[1], version: f[2]}
		if len(f) > 3 {
			m.sum = f[3]
		}
		switch f[0] {
		case "mod":
			main = m
		case "dep":
			deps = append(deps, m)
		case "=>":
			deps[len(deps)-1] = m
		}
	}
	if main.path == "" || len(deps) == 0 {
		t.Fatalf("go version -m printed no modules:\n%s", out)
	}
	return main, deps
}

func TestSBOMListsEveryModule(t *testing.T) {
	dir := t.TempDir()
	bin := agentproc.Build(t, dir)
	out := filepath.Join(dir, "nodeguard.cdx.json")
	const version = "v9.8.7-test"
	cmd := exec.Command("./sbom.sh", bin, out, version)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sbom.sh: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var doc bom
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("SBOM is not JSON: %v", err)
	}
	if doc.BOMFormat != "CycloneDX" || doc.SpecVersion == "" {
		t.Fatalf("bomFormat %q specVersion %q: not a CycloneDX document", doc.BOMFormat, doc.SpecVersion)
	}

	main, deps := goVersionM(t, bin)
	mc := doc.Metadata.Component
	if mc.Name != main.path || mc.Version != version || mc.Type != "application" {
		t.Errorf("metadata.component = %s %s (%s), want application %s %s", mc.Name, mc.Version, mc.Type, main.path, version)
	}
	byName := map[string]component{}
	for _, c := range doc.Components {
		if _, dup := byName[c.Name]; dup {
			t.Errorf("module %s listed twice", c.Name)
		}
		byName[c.Name] = c
	}
	for _, d := range deps {
		c, ok := byName[d.path]
		if !ok {
			t.Errorf("dependency %s %s missing from the SBOM", d.path, d.version)
			continue
		}
		delete(byName, d.path)
		if c.Version != d.version {
			t.Errorf("%s: SBOM version %s, go version -m says %s", d.path, c.Version, d.version)
		}
		if !strings.HasPrefix(c.PURL, "pkg:golang/"+d.path+"@"+d.version) {
			t.Errorf("%s: purl %s does not name %s@%s", d.path, c.PURL, d.path, d.version)
		}
		// go.sum's h1: is base64 SHA-256; the SBOM carries it in hex.
		if h, ok := strings.CutPrefix(d.sum, "h1:"); ok {
			raw, err := base64.StdEncoding.DecodeString(h)
			if err != nil {
				t.Fatalf("%s: checksum %s: %v", d.path, d.sum, err)
			}
			found := false
			for _, hash := range c.Hashes {
				found = found || (hash.Alg == "SHA-256" && hash.Content == hex.EncodeToString(raw))
			}
			if !found {
				t.Errorf("%s: SBOM hashes %v lack the module checksum %s", d.path, c.Hashes, d.sum)
			}
		}
	}
	for name, c := range byName {
		t.Errorf("SBOM lists %s %s, which is not linked into the binary", name, c.Version)
	}
}

// TestSBOMScriptUsage: a missing binary is a usage error naming the file.
func TestSBOMScriptUsage(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	b, err := exec.Command("./sbom.sh", missing, filepath.Join(t.TempDir(), "out.json")).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(b), missing) {
		t.Fatalf("sbom.sh on a missing binary: %v\n%s", err, b)
	}
}
