package kube

import (
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// transition is a change of an owned condition worth an Event.
type transition struct {
	Type     *ConditionType
	Appeared bool // a problem appeared (else it was resolved)
	Verdict  Verdict
}

// syncPlan is what one sync has to do.
type syncPlan struct {
	// Patch is the strategic merge patch for nodes/status; nil when the node
	// already says what it should and no heartbeat is due.
	Patch       []byte
	Transitions []transition
	// NextHeartbeat is when a heartbeat falls due if nothing changes; zero
	// when no owned condition is present.
	NextHeartbeat time.Time
}

// planSync compares the node's conditions with the verdicts. Only owned types
// are ever written (a strategic merge on the "type" key leaves the kubelet's
// conditions alone); owned types without a verdict are deleted.
// lastTransitionTime is kept while status and reason are unchanged, so an
// agent restart resets nothing.
func planSync(current []corev1.NodeCondition, want map[corev1.NodeConditionType]Verdict, now time.Time, period time.Duration) (syncPlan, error) {
	have := map[corev1.NodeConditionType]corev1.NodeCondition{}
	for _, c := range current {
		if Owned(c.Type) {
			have[c.Type] = c
		}
	}
	var p syncPlan
	changed, heartbeatDue := false, false
	var next time.Time
	for i := range ConditionTypes {
		ct := &ConditionTypes[i]
		v, wanted := want[ct.Type]
		c, present := have[ct.Type]
		if !wanted {
			changed = changed || present
			continue
		}
		if !present || c.Status != v.Status || c.Reason != v.Reason || c.Message != v.Message {
			changed = true
		}
		if present {
			due := c.LastHeartbeatTime.Add(period)
			if !now.Before(due) {
				heartbeatDue = true
			}
			if next.IsZero() || due.Before(next) {
				next = due
			}
		}
		wasProblem := present && c.Status == corev1.ConditionTrue
		switch {
		case v.Status == corev1.ConditionTrue && !wasProblem:
			p.Transitions = append(p.Transitions, transition{ct, true, v})
		case v.Status == corev1.ConditionFalse && wasProblem:
			p.Transitions = append(p.Transitions, transition{ct, false, v})
		}
	}
	p.NextHeartbeat = next
	if !changed && !heartbeatDue {
		p.Transitions = nil
		return p, nil
	}

	// Every present owned condition gets the same heartbeat, so one timer
	// covers them all and an idle agent patches once per period.
	beat := metav1.NewTime(now)
	conds := []any{}
	for i := range ConditionTypes {
		ct := &ConditionTypes[i]
		v, wanted := want[ct.Type]
		c, present := have[ct.Type]
		if !wanted {
			if present {
				conds = append(conds, map[string]string{"$patch": "delete", "type": string(ct.Type)})
			}
			continue
		}
		ltt := beat
		if present && c.Status == v.Status && c.Reason == v.Reason {
			ltt = c.LastTransitionTime
		}
		conds = append(conds, corev1.NodeCondition{
			Type: ct.Type, Status: v.Status, Reason: v.Reason, Message: v.Message,
			LastHeartbeatTime: beat, LastTransitionTime: ltt,
		})
	}
	body, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": conds}})
	if err != nil {
		return syncPlan{}, err
	}
	p.Patch = body
	if len(want) > 0 {
		p.NextHeartbeat = now.Add(period)
	} else {
		p.NextHeartbeat = time.Time{}
	}
	return p, nil
}
