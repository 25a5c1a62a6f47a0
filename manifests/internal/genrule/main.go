// Command genrule writes manifests/prometheusrule.yaml from the plain rules
// file; `go generate ./manifests` runs it in the manifests directory. It
// first sets each node condition's alert to the probes the check catalogue
// says feed the condition, in the rules file itself.
package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/nodeguard/nodeguard/manifests"
	_ "github.com/nodeguard/nodeguard/probes/all" // the checks' catalogue entries
	"github.com/nodeguard/nodeguard/probes/model/catalog"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "genrule:", err)
		os.Exit(1)
	}
}

func run() error {
	old, err := os.ReadFile(manifests.RulesFile)
	if err != nil {
		return err
	}
	feeds := map[string][]string{}
	for _, c := range catalog.Conditions {
		feeds[c] = catalog.Probes(c)
	}
	rules, err := manifests.SetConditionProbes(old, feeds)
	if err != nil {
		return err
	}
	if !bytes.Equal(rules, old) {
		if err := os.WriteFile(manifests.RulesFile, rules, 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(manifests.PrometheusRuleFile, manifests.PrometheusRule(rules), 0o644)
}
