package prommetrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/packages"
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
				if f.Probe != packages.Name {
					continue
				}
				// The probe leaves a value out when it is unknown: export no
				// sample then, never a misleading 0.
				v := f.Values
				switch f.ID {
				case packages.IDSecurityUpdates:
					all, ok := v[packages.ValueUpgradable]
					if !ok {
						continue
					}
					sec, ok := v[packages.ValueSecurity]
					if !ok {
						// Upgradable is known, security is not (apk).
						ch <- prometheus.MustNewConstMetric(packagesUpgradableDesc, prometheus.GaugeValue, all, "unknown")
						continue
					}
					ch <- prometheus.MustNewConstMetric(packagesUpgradableDesc, prometheus.GaugeValue, sec, "true")
					ch <- prometheus.MustNewConstMetric(packagesUpgradableDesc, prometheus.GaugeValue, all-sec, "false")
				case packages.IDRebootRequired:
					if req, ok := v[packages.ValueRebootRequired]; ok {
						ch <- prometheus.MustNewConstMetric(rebootRequiredDesc, prometheus.GaugeValue, req)
					}
				case packages.IDInventory:
					if age, ok := v[packages.ValueListsAgeSeconds]; ok {
						ch <- prometheus.MustNewConstMetric(packageListsAgeDesc, prometheus.GaugeValue, age)
					}
				}
			}
		},
	})
}
