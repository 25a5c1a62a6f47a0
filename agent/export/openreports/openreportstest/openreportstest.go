// Package openreportstest makes the scan that tests the report's size
// bound: a node with many unexpected listeners.
package openreportstest

import (
	"fmt"
	"strconv"
	"time"

	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// Listeners is a finalized scan of node with n failing ports.listener
// findings, each with eight evidence entries; every tenth is high, the
// others medium.
func Listeners(node string, n int) *finding.Report {
	rep := &finding.Report{Node: node, Role: "worker", ScannedAt: time.Now()}
	for i := range n {
		sev := finding.Medium
		if i%10 == 0 {
			sev = finding.High
		}
		rep.Findings = append(rep.Findings, finding.Finding{
			ID: "ports.listener", Probe: "ports", Status: finding.Fail, Severity: sev,
			Title:   "Unexpected listener",
			Message: fmt.Sprintf("TCP 0.0.0.0:%d (some-long-named-server-binary, pid %d) is not in the port table of a worker node", 10000+i, 4000+i),
			Evidence: finding.EvidenceOf(map[string]string{
				"address": "0.0.0.0", "port": strconv.Itoa(10000 + i), "protocol": "tcp", "process": "some-long-named-server-binary",
				"pid": strconv.Itoa(4000 + i), "inode": strconv.Itoa(900000 + i), "uid": "0", "container": "0123456789ab",
			}),
		})
	}
	rep.Finalize()
	return rep
}
