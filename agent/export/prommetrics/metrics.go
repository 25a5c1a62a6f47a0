// Package prommetrics exports scan reports as Prometheus metrics. It never reads
// the host: everything comes from the findings.
package prommetrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodeguard/nodeguard/agent/release"
	// Every probe, so that the catalogue gives each finding its condition.
	_ "github.com/nodeguard/nodeguard/probes/all"
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// Deriver turns the latest report into metrics of one family. Each probe
// family that has metrics of its own adds one in a file of this package.
type Deriver struct {
	Descs   []*prometheus.Desc
	Collect func(r *finding.Report, ch chan<- prometheus.Metric)
}

var derivers []Deriver

func addDeriver(d Deriver) { derivers = append(derivers, d) }

var (
	findingsDesc = prometheus.NewDesc("nodeguard_findings",
		"Findings of the last scan by probe, the node condition the checks feed (from the check catalogue; empty for checks that feed none), severity and status.",
		[]string{"probe", "condition", "severity", "status"}, nil)
	durationDesc = prometheus.NewDesc("nodeguard_probe_duration_seconds",
		"How long each probe took in the last scan.", []string{"probe"}, nil)
	probeErrorsDesc = prometheus.NewDesc("nodeguard_probe_errors_total",
		"Error findings (checks that could not be judged) reported by each probe since start.",
		[]string{"probe"}, nil)
	lastScanDesc = prometheus.NewDesc("nodeguard_last_scan_timestamp_seconds",
		"When the last scan finished, in seconds since the Unix epoch.", nil, nil)
	scansDesc = prometheus.NewDesc("nodeguard_scans_total",
		"Scans completed since start.", nil, nil)
	buildInfoDesc = prometheus.NewDesc("nodeguard_build_info",
		"Always 1; labels describe the build.", []string{"version", "goversion"}, nil)
)

// Exporter is a prometheus.Collector over the most recent report.
type Exporter struct {
	mu          sync.RWMutex
	report      *finding.Report
	probeErrors map[string]float64
	scans       float64
}

// New returns an Exporter with no report yet.
func New() *Exporter { return &Exporter{probeErrors: map[string]float64{}} }

// Update publishes a new report.
func (e *Exporter) Update(r *finding.Report) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.report = r
	e.scans++
	for _, p := range r.Probes {
		e.probeErrors[p.Name] += float64(p.Errors)
	}
}

// Report returns the last published report, or nil.
func (e *Exporter) Report() *finding.Report {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.report
}

// Describe implements prometheus.Collector.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{findingsDesc, durationDesc, probeErrorsDesc, lastScanDesc, scansDesc, buildInfoDesc} {
		ch <- d
	}
	for _, d := range derivers {
		for _, desc := range d.Descs {
			ch <- desc
		}
	}
}

// Collect implements prometheus.Collector.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(buildInfoDesc, prometheus.GaugeValue, 1, release.Version, release.GoVersion())
	e.mu.RLock()
	defer e.mu.RUnlock()
	ch <- prometheus.MustNewConstMetric(scansDesc, prometheus.CounterValue, e.scans)
	for probe, n := range e.probeErrors {
		ch <- prometheus.MustNewConstMetric(probeErrorsDesc, prometheus.CounterValue, n, probe)
	}
	r := e.report
	if r == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(lastScanDesc, prometheus.GaugeValue, float64(r.ScannedAt.UnixNano())/1e9)
	type key struct{ probe, cond, sev, status string }
	counts := map[key]float64{}
	for _, p := range r.Probes {
		// Every probe that ran exports every severity/status pair of each
		// condition its checks feed, so that a count dropping to zero is a
		// 0, not a vanished series.
		conds := catalog.ProbeConditions(p.Name)
		if len(conds) == 0 {
			conds = []string{""}
		}
		for _, cond := range conds {
			for _, sev := range finding.Severities {
				for _, st := range []finding.Status{finding.Pass, finding.Fail, finding.Error, finding.Skip} {
					counts[key{p.Name, cond, string(sev), string(st)}] = 0
				}
			}
		}
		ch <- prometheus.MustNewConstMetric(durationDesc, prometheus.GaugeValue, p.DurationSeconds, p.Name)
	}
	for _, f := range r.Findings {
		e, _ := catalog.Lookup(f.ID)
		counts[key{f.Probe, e.Condition, string(f.Severity), string(f.Status)}]++
	}
	for k, v := range counts {
		ch <- prometheus.MustNewConstMetric(findingsDesc, prometheus.GaugeValue, v, k.probe, k.cond, k.sev, k.status)
	}
	for _, d := range derivers {
		d.Collect(r, ch)
	}
}
