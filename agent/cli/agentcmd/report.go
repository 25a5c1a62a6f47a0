package agentcmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodeguard/nodeguard/agent/cli"
	"github.com/nodeguard/nodeguard/agent/export/openreports"
	"github.com/nodeguard/nodeguard/agent/fleet"
	"github.com/nodeguard/nodeguard/agent/kube"
	"github.com/nodeguard/nodeguard/agent/kube/apiclient"
	"github.com/nodeguard/nodeguard/agent/release"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// reportTimeout bounds each API request of nodeguard report.
const reportTimeout = 30 * time.Second

// List page sizes: a ClusterReport can be hundreds of KiB.
const (
	nodePage   = 500
	reportPage = 50
)

// readerRole is the ClusterRole that grants what nodeguard report reads.
const readerRole = "nodeguard-report-reader"

func runReport(ctx context.Context, args []string, io cli.IO) int {
	fs := cli.NewFlagSet("report", io)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig for the Kubernetes API (default: in-cluster service account, else $KUBECONFIG)")
	output := fs.String("output", "table", "output format: table or json")
	failOn := fs.String("fail-on", "high", "exit 1 when a node has a failing or erroring check at or above this severity: critical, high, medium, low, info, or none (never)")
	if code, ok := cli.ParseFlags(fs, args); !ok {
		return code
	}
	if *output != "table" && *output != "json" {
		fmt.Fprintf(io.Stderr, "nodeguard report: --output %q: want table or json\n", *output)
		return cli.ExitUsage
	}
	var threshold finding.Severity
	if *failOn != fleet.FailOnNone {
		sev, err := finding.ParseSeverity(*failOn)
		if err != nil {
			fmt.Fprintf(io.Stderr, "nodeguard report: --fail-on %q: want critical, high, medium, low, info or none\n", *failOn)
			return cli.ExitUsage
		}
		threshold = sev
	}
	cfg, err := kube.RESTConfig(*kubeconfig)
	if err != nil {
		fmt.Fprintf(io.Stderr, "nodeguard report: %v\n", err)
		return cli.ExitUsage
	}
	cfg.Timeout = reportTimeout
	// A one-shot reader: a 5,000-node fleet is about 110 list requests.
	cfg.QPS, cfg.Burst = 20, 40
	cfg.UserAgent = "nodeguard-report/" + release.Version
	client, err := apiclient.New(cfg)
	if err != nil {
		fmt.Fprintf(io.Stderr, "nodeguard report: %v\n", err)
		return cli.ExitUsage
	}
	in, err := readFleet(ctx, client)
	if err != nil {
		fmt.Fprintf(io.Stderr, "nodeguard report: %s: %v\n", cfg.Host, err)
		if hint := reportHint(err); hint != "" {
			fmt.Fprintf(io.Stderr, "nodeguard report: %s\n", hint)
		}
		return cli.ExitUsage
	}
	in.FailOn, in.Now = threshold, time.Now()
	f := fleet.Summarize(in)
	if *output == "json" {
		err = fleet.WriteJSON(io.Stdout, f)
	} else {
		err = fleet.WriteTable(io.Stdout, f)
	}
	if err != nil {
		fmt.Fprintf(io.Stderr, "nodeguard report: writing the report: %v\n", err)
		return cli.ExitUsage
	}
	if len(f.AtOrAboveFailOn) > 0 {
		return cli.ExitFindings
	}
	return cli.ExitOK
}

// readFleet lists the Nodes and, where the API serves them, the agent's
// ClusterReports, keeping of each report only its failing and erroring
// results (a fleet's reports with every passing check would not fit in
// memory on a small machine).
func readFleet(ctx context.Context, c *apiclient.Client) (fleet.Input, error) {
	var in fleet.Input
	opts := metav1.ListOptions{Limit: nodePage}
	for {
		list, err := c.ListNodes(ctx, opts)
		if err != nil {
			return in, fmt.Errorf("listing nodes: %w", err)
		}
		for _, n := range list.Items {
			// Only what the summary reads.
			in.Nodes = append(in.Nodes, corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: n.Name, UID: n.UID},
				Status:     corev1.NodeStatus{Conditions: ownedConditions(n.Status.Conditions)},
			})
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			break
		}
	}
	served, err := c.OpenReportsServed(ctx)
	if err != nil {
		return in, fmt.Errorf("discovery of %s: %w", v1alpha1.GroupVersion, err)
	}
	in.OpenReportsServed = served
	if !served {
		return in, nil
	}
	opts = metav1.ListOptions{Limit: reportPage, LabelSelector: openreports.LabelManagedBy + "=" + openreports.Source}
	for {
		list, err := c.ListClusterReports(ctx, opts)
		if err != nil {
			return in, fmt.Errorf("listing clusterreports.%s: %w", v1alpha1.GroupName, err)
		}
		for _, r := range list.Items {
			in.Reports = append(in.Reports, trimReport(&r))
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			break
		}
	}
	return in, nil
}

// trimReport is r with only what the summary (fleet.Summarize) reads: its
// name, labels, annotations and scope, its summary, and its failing and
// erroring results with their title. It shares no result with r, so that
// the page r came in can go.
func trimReport(r *v1alpha1.ClusterReport) v1alpha1.ClusterReport {
	out := v1alpha1.ClusterReport{
		ObjectMeta: metav1.ObjectMeta{Name: r.Name, UID: r.UID, Labels: r.Labels, Annotations: r.Annotations},
		Scope:      r.Scope,
		Summary:    r.Summary,
	}
	for _, res := range r.Results {
		if res.Result != v1alpha1.Result(finding.Fail) && res.Result != v1alpha1.Result(finding.Error) {
			continue
		}
		kept := v1alpha1.ReportResult{Policy: res.Policy, Rule: res.Rule, Result: res.Result, Severity: res.Severity,
			Description: res.Description, Timestamp: res.Timestamp}
		if title, ok := res.Properties["title"]; ok {
			kept.Properties = map[string]string{"title": title}
		}
		out.Results = append(out.Results, kept)
	}
	if len(out.Results) == 0 && len(r.Results) > 0 {
		// Every result carries the time of the scan that changed the
		// report: keep one for it.
		out.Results = append(out.Results, v1alpha1.ReportResult{Result: r.Results[0].Result, Timestamp: r.Results[0].Timestamp})
	}
	return out
}

func ownedConditions(cs []corev1.NodeCondition) []corev1.NodeCondition {
	var out []corev1.NodeCondition
	for _, c := range cs {
		if kube.Owned(c.Type) {
			out = append(out, c)
		}
	}
	return out
}

// reportHint says what to do about a failed read; nothing when it was
// interrupted (Ctrl-C).
func reportHint(err error) string {
	if errors.Is(err, context.Canceled) {
		return ""
	}
	switch kube.ErrorReason(err) {
	case kube.ReasonForbidden:
		return "the API server denied the read (403 Forbidden): bind your user or group to the ClusterRole " + readerRole +
			" (manifests/rbac.yaml: list nodes and clusterreports.openreports.io)"
	case kube.ReasonUnauthorized:
		return "the API server rejected the credentials (401 Unauthorized): check --kubeconfig or $KUBECONFIG"
	case kube.ReasonUnreachable, kube.ReasonTimeout:
		return "the Kubernetes API is unreachable: check --kubeconfig and the network"
	}
	return ""
}
