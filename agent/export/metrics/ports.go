package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodeguard/nodeguard/agent/finding"
)

var listeningPortDesc = prometheus.NewDesc("nodeguard_listening_port",
	"Listening TCP and bound UDP sockets in the host's network namespace; allowed says whether the port policy allows them.",
	[]string{"protocol", "address", "port", "process", "allowed"}, nil)

func init() {
	addDeriver(Deriver{
		Descs: []*prometheus.Desc{listeningPortDesc},
		Collect: func(r *finding.Report, ch chan<- prometheus.Metric) {
			// SO_REUSEPORT groups share all labels: count them in one series.
			type key struct{ proto, addr, port, process, allowed string }
			n := map[key]float64{}
			for _, f := range r.Findings {
				if f.ID != "ports.listener" {
					continue
				}
				allowed := "false"
				if f.Status == finding.Pass {
					allowed = "true"
				}
				ev := f.Evidence
				n[key{ev["protocol"], ev["address"], ev["port"], ev["process"], allowed}]++
			}
			for k, v := range n {
				ch <- prometheus.MustNewConstMetric(listeningPortDesc, prometheus.GaugeValue, v,
					k.proto, k.addr, k.port, k.process, k.allowed)
			}
		},
	})
}
