package kube

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	_ "github.com/nodeguard/nodeguard/probes/all" // the checks' catalogue entries
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// TestCatalogueConditionsAreOurs: the catalogue repeats the condition type
// names as strings (the model cannot import the agent); keep them equal.
func TestCatalogueConditionsAreOurs(t *testing.T) {
	var ours []string
	for _, ct := range ConditionTypes {
		ours = append(ours, string(ct.Type))
	}
	if strings.Join(ours, ",") != strings.Join(catalog.Conditions, ",") {
		t.Errorf("catalog.Conditions %v, agent/kube's ConditionTypes %v", catalog.Conditions, ours)
	}
	// Every condition derived from reports has probes feeding it; services
	// used to feed none.
	fed := map[string]bool{}
	for _, ct := range ConditionTypes {
		for _, p := range ct.Probes() {
			fed[p] = true
		}
		if len(ct.Probes()) == 0 && ct.Type != RuntimeAnomalyDetected {
			t.Errorf("%s has no check feeding it", ct.Type)
		}
	}
	for _, p := range []string{"ports", "sshd", "accounts", "kubelet", "controlplane", "kmod", "sysctl", "packages", "services"} {
		if !fed[p] {
			t.Errorf("probe %s feeds no condition", p)
		}
	}
}

func report(probesRun []string, fs ...finding.Finding) *finding.Report {
	r := &finding.Report{Findings: fs}
	for _, p := range probesRun {
		r.Probes = append(r.Probes, finding.ProbeRun{Name: p})
	}
	r.Finalize()
	return r
}

func fail(probe, id string, sev finding.Severity, title, msg string) finding.Finding {
	return finding.Finding{ID: id, Probe: probe, Status: finding.Fail, Severity: sev, Title: title, Message: msg}
}

func TestVerdictsMapProbesByName(t *testing.T) {
	rep := report([]string{"ports", "sshd", "sysctl", "packages"},
		fail("ports", "ports.listener", finding.High, "Unexpected open port", "TCP 0.0.0.0:4444 is not in the port table of a worker node"),
		finding.Finding{ID: "sshd.root-login", Probe: "sshd", Status: finding.Pass, Severity: finding.Info},
		finding.ErrorFinding("sysctl", "sysctl.read", "sysctl unreadable", fmt.Errorf("/proc/sys: permission denied")),
		fail("packages", "packages.security-updates", finding.Info, "Informational", "not a problem"),
	)
	got := Verdicts(rep)
	want := map[corev1.NodeConditionType]corev1.ConditionStatus{
		UnexpectedOpenPorts:      corev1.ConditionTrue,
		InsecureRemoteAccess:     corev1.ConditionFalse,
		KernelHardeningViolation: corev1.ConditionUnknown,
		SecurityUpdatesPending:   corev1.ConditionFalse, // an info-level fail is not a problem
	}
	if len(got) != len(want) {
		t.Fatalf("verdicts for %d types, want %d: %+v", len(got), len(want), got)
	}
	for typ, st := range want {
		if got[typ].Status != st {
			t.Errorf("%s: status %s, want %s (%+v)", typ, got[typ].Status, st, got[typ])
		}
	}
	// Probes that did not run leave no verdict, so the condition is removed.
	for _, typ := range []corev1.NodeConditionType{InsecureKubeletConfig, RuntimeAnomalyDetected} {
		if _, ok := got[typ]; ok {
			t.Errorf("%s has a verdict though none of its probes ran", typ)
		}
	}
	if r := got[UnexpectedOpenPorts].Reason; r != "UnexpectedPortsOpen" {
		t.Errorf("reason %q", r)
	}
	if m := got[UnexpectedOpenPorts].Message; !strings.Contains(m, "TCP 0.0.0.0:4444") || !strings.HasPrefix(m, "1 failing check: [high]") {
		t.Errorf("message %q does not name the failing check", m)
	}
	if r := got[KernelHardeningViolation].Reason; r != ReasonCheckErrors {
		t.Errorf("unknown reason %q", r)
	}
	for _, ct := range ConditionTypes {
		for _, r := range []string{ct.ProblemReason, ct.OKReason} {
			if !isCamelCase(r) {
				t.Errorf("%s: reason %q is not CamelCase", ct.Type, r)
			}
		}
	}
}

func TestMessageIsBoundedAndOrderedBySeverity(t *testing.T) {
	var fs []finding.Finding
	for range 200 {
		fs = append(fs, fail("ports", "ports.listener", finding.Low, "Unexpected open port",
			strings.Repeat("ü", 300)))
	}
	fs = append(fs, fail("ports", "ports.listener", finding.Critical, "Forbidden listener: kubelet read-only port", "TCP 0.0.0.0:10255"))
	v := Verdicts(report([]string{"ports"}, fs...))[UnexpectedOpenPorts]
	if len(v.Message) > MaxMessageLen {
		t.Fatalf("message is %d bytes, bound %d", len(v.Message), MaxMessageLen)
	}
	if !strings.HasPrefix(v.Message, "201 failing checks: [critical] Forbidden listener") {
		t.Errorf("most severe check not first: %q", v.Message)
	}
	if !strings.HasSuffix(v.Message, " (+198 more)") {
		t.Errorf("message does not say how many checks it left out: %q", v.Message)
	}
	if !strings.Contains(v.Message, "…") || strings.ContainsRune(v.Message, '\uFFFD') {
		t.Errorf("items not cut on a rune boundary: %q", v.Message)
	}
	// The same findings in another order give the same message (no patch).
	rev := append([]finding.Finding(nil), fs...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	if v2 := Verdicts(report([]string{"ports"}, rev...))[UnexpectedOpenPorts]; v2.Message != v.Message {
		t.Errorf("message depends on finding order:\n%q\n%q", v.Message, v2.Message)
	}
}

func cond(t corev1.NodeConditionType, st corev1.ConditionStatus, reason, msg string, beat, trans time.Time) corev1.NodeCondition {
	return corev1.NodeCondition{Type: t, Status: st, Reason: reason, Message: msg,
		LastHeartbeatTime: metav1.NewTime(beat), LastTransitionTime: metav1.NewTime(trans)}
}

type patchBody struct {
	Status struct {
		Conditions []map[string]any `json:"conditions"`
	} `json:"status"`
}

func decodePatch(t *testing.T, b []byte) map[string]map[string]any {
	t.Helper()
	var p patchBody
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("patch %s: %v", b, err)
	}
	out := map[string]map[string]any{}
	for _, c := range p.Status.Conditions {
		out[c["type"].(string)] = c
	}
	return out
}

func TestPlanSync(t *testing.T) {
	period := 5 * time.Minute
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	now := t0.Add(time.Hour)
	ready := cond("Ready", corev1.ConditionTrue, "KubeletReady", "ok", t0, t0)
	ports := Verdict{corev1.ConditionTrue, "UnexpectedPortsOpen", "1 failing check: x"}

	t.Run("unchanged and heartbeat fresh: no patch", func(t *testing.T) {
		cur := []corev1.NodeCondition{ready, cond(UnexpectedOpenPorts, ports.Status, ports.Reason, ports.Message, now.Add(-time.Minute), t0)}
		p, err := planSync(cur, map[corev1.NodeConditionType]Verdict{UnexpectedOpenPorts: ports}, now, period)
		if err != nil || p.Patch != nil || len(p.Transitions) != 0 {
			t.Fatalf("plan %+v, %v; want nothing to do", p, err)
		}
		if want := now.Add(4 * time.Minute); !p.NextHeartbeat.Equal(want) {
			t.Errorf("next heartbeat %s, want %s", p.NextHeartbeat, want)
		}
	})

	t.Run("heartbeat due keeps lastTransitionTime, no event", func(t *testing.T) {
		cur := []corev1.NodeCondition{cond(UnexpectedOpenPorts, ports.Status, ports.Reason, ports.Message, now.Add(-period), t0)}
		p, err := planSync(cur, map[corev1.NodeConditionType]Verdict{UnexpectedOpenPorts: ports}, now, period)
		if err != nil || p.Patch == nil {
			t.Fatalf("plan %+v, %v; want a heartbeat patch", p, err)
		}
		c := decodePatch(t, p.Patch)[string(UnexpectedOpenPorts)]
		if c["lastTransitionTime"] != t0.Format(time.RFC3339) || c["lastHeartbeatTime"] != now.Format(time.RFC3339) {
			t.Errorf("timestamps %v", c)
		}
		if len(p.Transitions) != 0 {
			t.Errorf("heartbeat made events: %+v", p.Transitions)
		}
	})

	t.Run("message change keeps lastTransitionTime", func(t *testing.T) {
		cur := []corev1.NodeCondition{cond(UnexpectedOpenPorts, ports.Status, ports.Reason, "older message", now, t0)}
		p, _ := planSync(cur, map[corev1.NodeConditionType]Verdict{UnexpectedOpenPorts: ports}, now, period)
		c := decodePatch(t, p.Patch)[string(UnexpectedOpenPorts)]
		if c["message"] != ports.Message || c["lastTransitionTime"] != t0.Format(time.RFC3339) {
			t.Errorf("patched %v", c)
		}
	})

	t.Run("problem appears, another resolves, a stale one is removed, kubelet's untouched", func(t *testing.T) {
		cur := []corev1.NodeCondition{
			ready,
			cond(UnexpectedOpenPorts, corev1.ConditionFalse, "NoUnexpectedPorts", "none", now, t0),
			cond(InsecureRemoteAccess, corev1.ConditionTrue, "InsecureRemoteAccessSettings", "bad", now, t0),
			cond(SecurityUpdatesPending, corev1.ConditionTrue, "SecurityUpdatesAvailable", "3 pending", now, t0),
		}
		want := map[corev1.NodeConditionType]Verdict{
			UnexpectedOpenPorts:  ports,
			InsecureRemoteAccess: {corev1.ConditionFalse, "RemoteAccessHardened", "no failing checks"},
		}
		p, err := planSync(cur, want, now, period)
		if err != nil {
			t.Fatal(err)
		}
		got := decodePatch(t, p.Patch)
		if len(got) != 3 {
			t.Fatalf("patch touches %d conditions, want 3: %s", len(got), p.Patch)
		}
		if _, ok := got["Ready"]; ok {
			t.Errorf("patch touches the kubelet's Ready: %s", p.Patch)
		}
		if d := got[string(SecurityUpdatesPending)]; d["$patch"] != "delete" {
			t.Errorf("stale condition not deleted: %v", d)
		}
		for _, typ := range []corev1.NodeConditionType{UnexpectedOpenPorts, InsecureRemoteAccess} {
			if c := got[string(typ)]; c["lastTransitionTime"] != now.Format(time.RFC3339) {
				t.Errorf("%s changed status but kept lastTransitionTime: %v", typ, c)
			}
		}
		if len(p.Transitions) != 2 || !p.Transitions[0].Appeared || p.Transitions[0].Type.Type != UnexpectedOpenPorts ||
			p.Transitions[1].Appeared || p.Transitions[1].Type.Type != InsecureRemoteAccess {
			t.Errorf("transitions %+v", p.Transitions)
		}
	})

	t.Run("new False condition and Unknown make no event", func(t *testing.T) {
		want := map[corev1.NodeConditionType]Verdict{
			UnexpectedOpenPorts:  {corev1.ConditionFalse, "NoUnexpectedPorts", "none"},
			InsecureRemoteAccess: {corev1.ConditionUnknown, ReasonCheckErrors, "1 unjudged check"},
		}
		p, _ := planSync(nil, want, now, period)
		if p.Patch == nil || len(p.Transitions) != 0 {
			t.Errorf("plan %+v", p)
		}
	})

	t.Run("nothing wanted and nothing owned: no patch", func(t *testing.T) {
		p, _ := planSync([]corev1.NodeCondition{ready}, nil, now, period)
		if p.Patch != nil || !p.NextHeartbeat.IsZero() {
			t.Errorf("plan %+v", p)
		}
	})
}
