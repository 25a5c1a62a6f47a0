package prommetrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodeguard/nodeguard/probes/binaries"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/packages"
)

var vulnerabilitiesDesc = prometheus.NewDesc("nodeguard_vulnerabilities",
	"Known vulnerabilities the last scan found with the OSV advisory bundle, by source (packages: installed source packages; binaries: Go binaries) and finding severity. Per package or binary, matched advisories that share an id, alias or upstream id count once. 0 when judged and none found; absent when not judged (no bundle configured, the bundle could not be read, no OSV ecosystem for the distribution).",
	[]string{"source", "severity"}, nil)

// vulnerabilityChecks are the checks whose findings carry a count, by the
// Values key they carry it under; the source label is the probe's name.
var vulnerabilityChecks = map[string]string{
	packages.IDVulnerability: packages.ValueVulnerabilities,
	binaries.IDVulnerability: binaries.ValueVulnerabilities,
}

func init() {
	addDeriver(Deriver{
		Descs: []*prometheus.Desc{vulnerabilitiesDesc},
		Collect: func(r *finding.Report, ch chan<- prometheus.Metric) {
			counts := map[string]map[finding.Severity]float64{}
			for _, f := range r.Findings {
				key, ok := vulnerabilityChecks[f.ID]
				if !ok {
					continue
				}
				// The probes set the count, typed, on every finding of a
				// judged check (0 when nothing is affected) and on none
				// otherwise: a source without one was not judged and
				// exports nothing rather than a misleading 0.
				n, ok := f.Values[key]
				if !ok {
					continue
				}
				if counts[f.Probe] == nil {
					counts[f.Probe] = map[finding.Severity]float64{}
				}
				counts[f.Probe][f.Severity] += n
			}
			for source, bySev := range counts {
				// Every severity, zeros included, so that a count that
				// drops to zero is a 0, not a vanished series.
				for _, sev := range finding.Severities {
					ch <- prometheus.MustNewConstMetric(vulnerabilitiesDesc, prometheus.GaugeValue, bySev[sev], source, string(sev))
				}
			}
		},
	})
}
