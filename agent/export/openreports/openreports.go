// Package openreports turns a scan report into the node's OpenReports
// ClusterReport (openreports.io/v1alpha1), the report object Kyverno, Policy
// Reporter and other tools read: one result per finding (policy = probe, rule
// = check id), scoped to and owned by the Node. It is an exporter: it only
// reads reports, never the host, and does not talk to the API (agent/kube
// writes what Build returns).
package openreports

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	v1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// The object's identity. The name is derived from the Node's, so that the
// admission policy can tell which node a report belongs to from the request
// alone, and nodeguard report can find every node's report by the label.
const (
	Source     = "nodeguard"
	NamePrefix = "nodeguard-"
	// LabelManagedBy is set to Source on every report the agent writes.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// AnnotationHash is the hash of what the report says (results without
	// their timestamps, summary, omissions): the agent writes only when it
	// changes.
	AnnotationHash = "nodeguard.io/findings-hash"
	// AnnotationOmitted counts the findings left out of results by the size
	// bound; absent when none were.
	AnnotationOmitted = "nodeguard.io/omitted-results"
	// AnnotationRole is the role the node was judged as.
	AnnotationRole = "nodeguard.io/role"
)

// Size bounds. The API server stores a custom resource as JSON in etcd,
// whose default request limit is 1.5 MiB; a report stays well under it, so
// that managedFields and a future field or two never push it over.
const (
	// MaxResults is the most results a report holds (its
	// configuration.limits.maxResults).
	MaxResults = 1000
	// MaxBytes bounds the report's JSON encoding.
	MaxBytes = 512 << 10
	// MaxProperties bounds the properties of one result (evidence and title).
	MaxProperties = 16
	// MaxPropertyLen bounds a property value, MaxMessageLen a result's message
	// (bytes, cut on a rune boundary and marked with "…").
	MaxPropertyLen = 256
	MaxMessageLen  = 1024
)

// PropertyOmitted is the property that counts evidence entries left out of
// a result by MaxProperties.
const PropertyOmitted = "nodeguard.evidenceOmitted"

// Node is the Node the report is about.
type Node struct {
	Name string
	UID  types.UID
}

// Name is the ClusterReport's name for node.
func Name(node string) (string, error) {
	name := NamePrefix + node
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return "", fmt.Errorf("node %q: report name %q is not a valid object name: %s", node, name, errs[0])
	}
	return name, nil
}

// Build makes node's report from rep. Results are ordered by status (fail,
// error, skip, pass), then severity (most severe first), then probe, check
// id and message. The first results are kept up to MaxResults and MaxBytes;
// the rest are counted in AnnotationOmitted. The summary is the scan's
// (rep is finalized, as the scanner leaves it): every finding, kept or not.
func Build(rep *finding.Report, node Node) (*v1alpha1.ClusterReport, error) {
	name, err := Name(node.Name)
	if err != nil {
		return nil, err
	}
	order := make([]*finding.Finding, len(rep.Findings))
	for i := range rep.Findings {
		order[i] = &rep.Findings[i]
	}
	slices.SortStableFunc(order, func(a, b *finding.Finding) int {
		return cmp.Or(
			cmp.Compare(b.Status.Rank(), a.Status.Rank()),
			cmp.Compare(b.Severity.Rank(), a.Severity.Rank()),
			cmp.Compare(a.Probe, b.Probe),
			cmp.Compare(a.ID, b.ID),
			cmp.Compare(a.Message, b.Message),
		)
	})

	out := &v1alpha1.ClusterReport{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ClusterReport"},
		ObjectMeta: metav1.ObjectMeta{
			Name:   name,
			Labels: map[string]string{LabelManagedBy: Source},
			Annotations: map[string]string{
				AnnotationRole: rep.Role,
			},
			// The garbage collector deletes the report with its Node. Not
			// blockOwnerDeletion: that would need the right to set
			// finalizers on Nodes, and nothing should wait for a report.
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
			}},
		},
		Source: Source,
		Scope:  &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID},
		Configuration: &v1alpha1.ReportConfiguration{
			Limits: v1alpha1.Limits{MaxResults: MaxResults},
		},
		Summary: v1alpha1.ReportSummary{Pass: rep.Summary.Pass, Fail: rep.Summary.Fail, Error: rep.Summary.Error, Skip: rep.Summary.Skip},
	}

	// The object without results, with room for the annotations added below.
	base, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	size := len(base) + 128
	hash := sha256.New()
	ts := metav1.Timestamp{Seconds: rep.ScannedAt.Unix(), Nanos: int32(rep.ScannedAt.Nanosecond())}
	for _, f := range order {
		if len(out.Results) == MaxResults {
			break
		}
		r := result(f)
		// Sized and hashed without the timestamp, which changes every scan;
		// its encoding has a fixed length that the margin covers.
		b, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		if size+len(b)+64 > MaxBytes {
			break
		}
		size += len(b) + 64
		hash.Write(b)
		hash.Write([]byte{'\n'})
		r.Timestamp = ts
		out.Results = append(out.Results, r)
	}
	omitted := len(order) - len(out.Results)
	if omitted > 0 {
		out.Annotations[AnnotationOmitted] = strconv.Itoa(omitted)
	}
	fmt.Fprintf(hash, "summary %+v omitted %d role %s scope %s/%s\n", out.Summary, omitted, rep.Role, node.Name, node.UID)
	out.Annotations[AnnotationHash] = hex.EncodeToString(hash.Sum(nil))[:32]
	return out, nil
}

// result maps one finding. The category is the node condition the check
// feeds (what an SRE filters by in Policy Reporter), else its probe.
func result(f *finding.Finding) v1alpha1.ReportResult {
	category := f.Probe
	if e, ok := catalog.Lookup(f.ID); ok && e.Condition != "" {
		category = e.Condition
	}
	return v1alpha1.ReportResult{
		Policy:      f.Probe,
		Rule:        f.ID,
		Category:    category,
		Severity:    v1alpha1.ResultSeverity(f.Severity),
		Result:      v1alpha1.Result(f.Status),
		Scored:      true,
		Description: finding.Truncate(f.Message, MaxMessageLen),
		Properties:  properties(f),
	}
}

// properties are the finding's title, remediation (of a failing or erroring
// finding) and evidence, sorted by key and bounded: at most MaxProperties entries of at most MaxPropertyLen
// bytes each, the count of dropped evidence in PropertyOmitted.
func properties(f *finding.Finding) map[string]string {
	p := map[string]string{}
	if f.Title != "" {
		p["title"] = finding.Truncate(f.Title, MaxPropertyLen)
	}
	// What to do matters only when there is something to do.
	if f.Remediation != "" && (f.Status == finding.Fail || f.Status == finding.Error) {
		p["remediation"] = finding.Truncate(f.Remediation, MaxPropertyLen)
	}
	room := MaxProperties - len(p) - 1 // one for PropertyOmitted
	dropped := 0
	for _, ev := range f.Evidence.Sorted() {
		if _, taken := p[ev.Key]; taken {
			continue
		}
		if room == 0 || len(ev.Key) > MaxPropertyLen {
			dropped++
			continue
		}
		p[ev.Key] = finding.Truncate(ev.Value, MaxPropertyLen)
		room--
	}
	if dropped > 0 {
		p[PropertyOmitted] = strconv.Itoa(dropped)
	}
	if len(p) == 0 {
		return nil
	}
	return p
}
