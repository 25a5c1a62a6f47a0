package anomaly

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	eventsDesc = prometheus.NewDesc("nodeguard_runtime_events_total",
		"Runtime anomaly events detected by the eBPF rules, by rule and severity.", []string{"rule", "severity"}, nil)
	eventsNSDesc = prometheus.NewDesc("nodeguard_runtime_events_total",
		"Runtime anomaly events detected by the eBPF rules, by rule, severity and pod namespace.", []string{"rule", "severity", "namespace"}, nil)
	lostDesc = prometheus.NewDesc("nodeguard_bpf_events_lost_total",
		"Events a BPF program could not submit because the ring buffer was full (in-kernel counter).", []string{"program"}, nil)
	droppedDesc = prometheus.NewDesc("nodeguard_runtime_events_dropped_total",
		"Runtime events a consumer inside the agent (Kubernetes Events, node conditions, the event log) missed because it fell behind.", nil, nil)
	activeDesc = prometheus.NewDesc("nodeguard_bpf_rule_active",
		"1 when the runtime rule's hooks are attached, 0 when the kernel does not support them or the policy disables it.", []string{"rule"}, nil)
)

// Collector exports a Detector's counters. With a nil Detector (eBPF off or
// unavailable) it reports every rule inactive.
type Collector struct {
	d       *Detector
	nsLabel bool
}

// NewCollector returns the collector of d; nsLabel must match the policy's
// namespaceLabel so that the metric's labels are fixed.
func NewCollector(d *Detector, nsLabel bool) *Collector { return &Collector{d: d, nsLabel: nsLabel} }

func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	if c.nsLabel {
		ch <- eventsNSDesc
	} else {
		ch <- eventsDesc
	}
	ch <- lostDesc
	ch <- droppedDesc
	ch <- activeDesc
}

func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	active := map[Rule]bool{}
	if c.d != nil {
		for _, st := range c.d.Rules() {
			active[st.Rule] = st.Active
		}
		for k, v := range c.d.Counts() {
			if c.nsLabel {
				ch <- prometheus.MustNewConstMetric(eventsNSDesc, prometheus.CounterValue, float64(v), k.Rule, k.Severity, k.Namespace)
			} else {
				ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.CounterValue, float64(v), k.Rule, k.Severity)
			}
		}
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(c.d.SubscriberDrops()))
		if lost, err := c.d.Lost(); err == nil {
			for prog, n := range lost {
				ch <- prometheus.MustNewConstMetric(lostDesc, prometheus.CounterValue, float64(n), prog)
			}
		} else {
			ch <- prometheus.NewInvalidMetric(lostDesc, err)
		}
	}
	for _, r := range Rules() {
		v := 0.0
		if active[r] {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, v, r.String())
	}
}
