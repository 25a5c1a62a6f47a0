// Command genrule writes manifests/prometheusrule.yaml from the plain rules
// file; `go generate ./manifests` runs it in the manifests directory.
package main

import (
	"fmt"
	"os"

	"github.com/nodeguard/nodeguard/manifests"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "genrule:", err)
		os.Exit(1)
	}
}

func run() error {
	rules, err := os.ReadFile(manifests.RulesFile)
	if err != nil {
		return err
	}
	return os.WriteFile(manifests.PrometheusRuleFile, manifests.PrometheusRule(rules), 0o644)
}
