package prommetrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/ports"
)

var listeningPortDesc = prometheus.NewDesc("nodeguard_listening_port",
	"Listening TCP and bound UDP sockets in the host's network namespace; allowed says whether the port policy allows them, severity how much a disallowed one matters (info when allowed).",
	[]string{"protocol", "address", "port", "process", "allowed", "severity"}, nil)

func init() {
	addDeriver(Deriver{
		Descs: []*prometheus.Desc{listeningPortDesc},
		Collect: func(r *finding.Report, ch chan<- prometheus.Metric) {
			// SO_REUSEPORT groups share all labels: count them in one series.
			type key struct{ proto, addr, port, process, allowed, severity string }
			n := map[key]float64{}
			for _, f := range r.Findings {
				if f.ID != ports.IDListener {
					continue
				}
				allowed := "false"
				if f.Status == finding.Pass {
					allowed = "true"
				}
				k := key{allowed: allowed, severity: string(f.Severity)}
				for _, ev := range f.Evidence {
					switch ev.Key {
					case "protocol":
						k.proto = ev.Value
					case "address":
						k.addr = ev.Value
					case "port":
						k.port = ev.Value
					case "process":
						k.process = ev.Value
					}
				}
				n[k]++
			}
			for k, v := range n {
				ch <- prometheus.MustNewConstMetric(listeningPortDesc, prometheus.GaugeValue, v,
					k.proto, k.addr, k.port, k.process, k.allowed, k.severity)
			}
		},
	})
}
