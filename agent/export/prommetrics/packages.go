package prommetrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodeguard/nodeguard/probes/model/finding"
)

var (
	packagesUpgradableDesc = prometheus.NewDesc("nodeguard_packages_upgradable",
		"Installed packages the package manager would upgrade, by whether the candidate comes from a security archive or advisory; security=\"unknown\" where the package manager has no security metadata (apk). Absent when the count is unknown.",
		[]string{"security"}, nil)
	rebootRequiredDesc = prometheus.NewDesc("nodeguard_reboot_required",
		"1 when the node needs a reboot (reboot-required flag or a newer installed kernel), 0 when not. Absent when unknown.",
		nil, nil)
	packageListsAgeDesc = prometheus.NewDesc("nodeguard_package_lists_age_seconds",
		"Seconds since the package lists (apt-get update) were last refreshed, at the last scan.",
		nil, nil)
)

func init() {
	addDeriver(Deriver{
		Descs: []*prometheus.Desc{packagesUpgradableDesc, rebootRequiredDesc, packageListsAgeDesc},
		Collect: func(r *finding.Report, ch chan<- prometheus.Metric) {
			for _, f := range r.Findings {
				if f.Probe != "packages" {
					continue
				}
				ev := f.Evidence
				switch f.ID {
				case "packages.security-updates":
					all, err1 := strconv.ParseFloat(ev["upgradable"], 64)
					sec, err2 := strconv.ParseFloat(ev["security"], 64)
					if err1 != nil {
						continue // "unknown" is not zero
					}
					if err2 != nil {
						// Upgradable is known, security is not (apk).
						ch <- prometheus.MustNewConstMetric(packagesUpgradableDesc, prometheus.GaugeValue, all, "unknown")
						continue
					}
					ch <- prometheus.MustNewConstMetric(packagesUpgradableDesc, prometheus.GaugeValue, sec, "true")
					ch <- prometheus.MustNewConstMetric(packagesUpgradableDesc, prometheus.GaugeValue, all-sec, "false")
				case "packages.reboot-required":
					switch ev["required"] {
					case "true":
						ch <- prometheus.MustNewConstMetric(rebootRequiredDesc, prometheus.GaugeValue, 1)
					case "false":
						ch <- prometheus.MustNewConstMetric(rebootRequiredDesc, prometheus.GaugeValue, 0)
					}
				case "packages.inventory":
					if age, err := strconv.ParseFloat(ev["lists_age_seconds"], 64); err == nil {
						ch <- prometheus.MustNewConstMetric(packageListsAgeDesc, prometheus.GaugeValue, age)
					}
				}
			}
		},
	})
}
