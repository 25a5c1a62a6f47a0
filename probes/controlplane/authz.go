package controlplane

import (
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// authorizers returns the API server's authorizer types in order and where
// they came from: the --authorization-config file's authorizers when given
// (it and --authorization-mode exclude each other), else
// --authorization-mode, whose default is AlwaysAllow.
func authorizers(root *hostfs.Root, pd *pod) ([]string, string, error) {
	if f, ok := pd.flags["authorization-config"]; ok && f != "" {
		hp := pd.hostPath(f)
		data, err := root.ReadFile(hp)
		if err != nil {
			return nil, "", fmt.Errorf("--authorization-config: %w", err)
		}
		var ac struct {
			Kind        string `json:"kind"`
			Authorizers []struct {
				Type string `json:"type"`
			} `json:"authorizers"`
		}
		if err := yaml.Unmarshal(data, &ac); err != nil {
			return nil, "", fmt.Errorf("--authorization-config %s: %w", hp, err)
		}
		if ac.Kind != "AuthorizationConfiguration" || len(ac.Authorizers) == 0 {
			return nil, "", fmt.Errorf("--authorization-config %s: not an AuthorizationConfiguration with authorizers", hp)
		}
		var types []string
		for _, a := range ac.Authorizers {
			types = append(types, a.Type)
		}
		return types, "authorizers in " + hp + " (--authorization-config)", nil
	}
	if v, ok := pd.flags["authorization-mode"]; ok {
		return splitList(v), pd.source["authorization-mode"], nil
	}
	return []string{"AlwaysAllow"}, "kube-apiserver default (--authorization-mode not set)", nil
}

func joinModes(m []string) string { return strings.Join(m, ",") }
