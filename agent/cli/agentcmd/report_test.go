package agentcmd

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestTrimReportKeepsWhatTheSummaryReads(t *testing.T) {
	ts := metav1.Timestamp{Seconds: 1700000000}
	r := &v1alpha1.ClusterReport{
		ObjectMeta: metav1.ObjectMeta{Name: "nodeguard-a", UID: "u", Labels: map[string]string{"l": "v"},
			Annotations:   map[string]string{"a": "b"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "nodeguard"}}},
		Scope:   &corev1.ObjectReference{Kind: "Node", Name: "a", UID: "node-uid"},
		Summary: v1alpha1.ReportSummary{Pass: 1, Fail: 1, Error: 1},
		Results: []v1alpha1.ReportResult{
			{Policy: "sshd", Rule: "sshd.x", Result: "pass", Timestamp: ts, Properties: map[string]string{"title": "p"}},
			{Policy: "sshd", Rule: "sshd.y", Result: "fail", Severity: "high", Description: "d", Timestamp: ts,
				Properties: map[string]string{"title": "t", "evidence": strings.Repeat("x", 200)}},
			{Policy: "kmod", Rule: "kmod.z", Result: "error", Timestamp: ts},
		},
	}
	got := trimReport(r)
	want := v1alpha1.ClusterReport{
		ObjectMeta: metav1.ObjectMeta{Name: "nodeguard-a", UID: "u", Labels: map[string]string{"l": "v"}, Annotations: map[string]string{"a": "b"}},
		Scope:      r.Scope,
		Summary:    r.Summary,
		Results: []v1alpha1.ReportResult{
			{Policy: "sshd", Rule: "sshd.y", Result: "fail", Severity: "high", Description: "d", Timestamp: ts, Properties: map[string]string{"title": "t"}},
			{Policy: "kmod", Rule: "kmod.z", Result: "error", Timestamp: ts},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	r.Results[1].Description, r.Results[1].Properties["title"] = "changed", "changed"
	if got.Results[0].Description != "d" || got.Results[0].Properties["title"] != "t" {
		t.Fatal("the trimmed report shares its results with the page")
	}
	// A report of passes only keeps one result, for the time of its scan.
	r.Results = r.Results[:1]
	if got := trimReport(r); len(got.Results) != 1 || got.Results[0].Timestamp != ts || got.Results[0].Properties != nil {
		t.Fatalf("passes only: %+v", got.Results)
	}
}

func TestReportHint(t *testing.T) {
	gr := schema.GroupResource{Group: v1alpha1.GroupName, Resource: "clusterreports"}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{apierrors.NewForbidden(gr, "", errors.New("no")), "403 Forbidden"},
		{apierrors.NewUnauthorized("no"), "401 Unauthorized"},
		{fmt.Errorf("listing: %w", context.DeadlineExceeded), "unreachable"},
		{errors.New("dial tcp: connection refused"), "unreachable"},
		{fmt.Errorf("listing: %w", context.Canceled), ""},
		{apierrors.NewBadRequest("bad"), ""},
	} {
		if got := reportHint(tc.err); tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%v: hint %q, want %q", tc.err, got, tc.want)
		}
	}
}
