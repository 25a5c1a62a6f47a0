// Package services audits systemd services: legacy or unneeded network
// services that are enabled or running, and required ones (auditd) that are
// not. Enablement comes from the unit files and .wants/.requires links under
// the host root (parsed with go-systemd's unit parser); the running state
// from systemd over D-Bus when its socket is reachable.
package services

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// Name is the probe's id.
const Name = "services"

// Finding ids of this probe.
const (
	IDUnneeded = "services.unneeded"
	IDRequired = "services.required"
	IDUnits    = "services.unit-files"
	IDSystemd  = "services.systemd"
)

const refGuidance = "Kubernetes security guidance 5.3.1"

// Unavailable is the active state reported when systemd cannot be asked.
const Unavailable = "unavailable"

func init() { probes.Register(Name, func() probes.Probe { return &Probe{} }) }

// Probe is the services probe. It keeps parsed unit files between scans.
type Probe struct{ cache ParseCache }

func (*Probe) Name() string { return Name }

// status is one policy service as found on the host.
type status struct {
	installed, enabled bool
	masked             []string
	via                []string
	active             []string // "unit=state" for running units
	activeKnown        bool
}

func (p *Probe) Run(ctx context.Context, env *probes.Env) []finding.Finding {
	pol := policy.Section[Policy](env.Policy, Name)
	units := ScanUnits(env.Root)
	if !units.Found {
		return []finding.Finding{{
			ID: IDSystemd, Probe: Name, Status: finding.Skip, Severity: finding.Info,
			Title:      "The host does not use systemd",
			Message:    "none of " + strings.Join(UnitDirs, ", ") + " exists under the host root",
			References: []string{}, Evidence: finding.Evidence{},
		}}
	}
	var out []finding.Finding
	en, perrs := units.Resolve(env.Root, &p.cache)
	for _, e := range append(units.Errors, perrs...) {
		f := finding.ErrorFinding(Name, IDUnits, "systemd unit files could not be fully read", e)
		f.Severity = catalog.Get(IDUnits).Severity
		out = append(out, f)
	}

	var patterns []string
	for _, s := range append(slices.Clone(pol.Unneeded), pol.Required...) {
		for _, u := range s.Units {
			patterns = append(patterns, strings.Replace(u, "@.", "@*.", 1))
		}
	}
	states, sysFinding := queryStates(ctx, env, patterns)
	out = append(out, sysFinding)

	for _, s := range pol.Unneeded {
		out = append(out, judgeUnneeded(s, lookup(units, en, states, s)))
	}
	for _, s := range pol.Required {
		out = append(out, judgeRequired(s, lookup(units, en, states, s)))
	}
	return out
}

// queryStates asks systemd over D-Bus, trying each socket found.
func queryStates(ctx context.Context, env *probes.Env, patterns []string) (map[string]UnitState, finding.Finding) {
	f := finding.Finding{ID: IDSystemd, Probe: Name, References: []string{}, Evidence: finding.Evidence{}}
	buses := findBus(env.Root)
	if len(buses) == 0 {
		f.Status, f.Severity = finding.Skip, finding.Info
		f.Title = "Running state of services unavailable"
		f.Message = "neither /run/systemd/private nor the system bus socket is reachable under the host root (" +
			env.Root.Path() + "): services are judged by their unit files only, active state " + Unavailable
		f.Remediation = "Mount the host's /run (hostPath) so that nodeguard can ask systemd which services run."
		f.Evidence.Set("activeState", Unavailable)
		return nil, f
	}
	var errs []error
	for _, b := range buses {
		states, err := activeStates(ctx, b, patterns)
		if err != nil {
			errs = append(errs, err)
			env.Log.Debug().Err(err).Str("socket", b.where).Msg("systemd D-Bus query failed")
			continue
		}
		f.Status, f.Severity = finding.Pass, finding.Info
		f.Title = "Running state of services read from systemd"
		f.Message = fmt.Sprintf("systemd answered over D-Bus at %s (%d matching units loaded)", b.where, len(states))
		f.Evidence.Set("socket", b.where)
		return states, f
	}
	e := finding.ErrorFinding(Name, IDSystemd, "systemd could not be asked which services run", errors.Join(errs...))
	e.Severity = finding.Low
	e.Evidence = finding.EvidenceOf(map[string]string{"activeState": Unavailable})
	return nil, e
}

func lookup(units *Units, en map[string]*Enablement, states map[string]UnitState, s Service) status {
	var st status
	st.activeKnown = states != nil
	for _, u := range s.Units {
		c := units.Canonical(u)
		if e := en[c]; e != nil {
			st.installed = st.installed || e.Installed
			if e.Masked {
				st.masked = append(st.masked, u)
			}
			if e.Enabled() {
				st.enabled = true
				for _, v := range e.Via {
					st.via = append(st.via, c+" ← "+v)
				}
			}
		}
		for name, us := range states {
			if (name == u || name == c || template(name) == u) && running(us.ActiveState) {
				st.active = append(st.active, name+"="+us.ActiveState+"/"+us.SubState)
			}
		}
	}
	sort.Strings(st.active)
	st.active = slices.Compact(st.active)
	return st
}

func evidence(s Service, st status) finding.Evidence {
	ev := map[string]string{
		"service": s.Name, "units": strings.Join(s.Units, ", "),
		"installed": fmt.Sprint(st.installed), "enabled": fmt.Sprint(st.enabled),
	}
	if len(st.via) > 0 {
		ev["enabledBy"] = strings.Join(st.via, "; ")
	}
	if len(st.masked) > 0 {
		ev["masked"] = strings.Join(st.masked, ", ")
	}
	switch {
	case !st.activeKnown:
		ev["activeState"] = Unavailable
	case len(st.active) > 0:
		ev["activeState"] = "active"
		ev["activeUnits"] = strings.Join(st.active, ", ")
	default:
		ev["activeState"] = "inactive"
	}
	return finding.EvidenceOf(ev)
}

func judgeUnneeded(s Service, st status) finding.Finding {
	e := catalog.Get(IDUnneeded)
	f := finding.Finding{
		ID: IDUnneeded, Probe: Name,
		References: append(slices.Clone(s.References), e.References...),
		Evidence:   evidence(s, st),
	}
	switch {
	case st.enabled || len(st.active) > 0:
		f.Status, f.Severity = finding.Fail, s.Severity
		var what []string
		if st.enabled {
			what = append(what, "enabled ("+strings.Join(st.via, "; ")+")")
		}
		if len(st.active) > 0 {
			what = append(what, "running ("+strings.Join(st.active, ", ")+")")
		}
		f.Title = "Unneeded service enabled: " + s.Name
		f.Message = fmt.Sprintf("the %s is %s", s.Description, strings.Join(what, " and "))
		f.Remediation = e.Remedy(strings.Join(s.Units, " "))
	case st.installed:
		f.Status, f.Severity = finding.Pass, finding.Info
		f.Title = "Unneeded service disabled: " + s.Name
		f.Message = fmt.Sprintf("the %s is installed but not enabled", s.Description)
		if len(st.masked) > 0 {
			f.Message += " (masked: " + strings.Join(st.masked, ", ") + ")"
		}
		if !st.activeKnown {
			f.Message += "; whether it runs is unknown (systemd unavailable)"
		}
	default:
		f.Status, f.Severity = finding.Pass, finding.Info
		f.Title = "Unneeded service not installed: " + s.Name
		f.Message = fmt.Sprintf("the %s is not installed", s.Description)
	}
	return f
}

func judgeRequired(s Service, st status) finding.Finding {
	e := catalog.Get(IDRequired)
	f := finding.Finding{
		ID: IDRequired, Probe: Name,
		References: append(slices.Clone(s.References), e.References...),
		Evidence:   evidence(s, st),
	}
	f.Status, f.Severity = finding.Fail, s.Severity
	switch {
	case !st.installed && !st.enabled:
		f.Title = "Required service not installed: " + s.Name
		f.Message = fmt.Sprintf("the %s is not installed", s.Description)
		f.Remediation = e.Remedy(s.Units[0])
	case !st.enabled:
		f.Title = "Required service not enabled: " + s.Name
		f.Message = fmt.Sprintf("the %s is installed but not enabled", s.Description)
		if len(st.masked) > 0 {
			f.Message += " (masked: " + strings.Join(st.masked, ", ") + ")"
		}
		f.Remediation = fmt.Sprintf("systemctl unmask %s; systemctl enable --now %s", s.Units[0], s.Units[0])
	case st.activeKnown && len(st.active) == 0:
		f.Title = "Required service not running: " + s.Name
		f.Message = fmt.Sprintf("the %s is enabled but not running", s.Description)
		f.Remediation = fmt.Sprintf("Start it (systemctl start %s) and check why it stopped (journalctl -u %s).", s.Units[0], s.Units[0])
	default:
		f.Status, f.Severity = finding.Pass, finding.Info
		f.Title = "Required service enabled: " + s.Name
		f.Message = fmt.Sprintf("the %s is enabled (%s)", s.Description, strings.Join(st.via, "; "))
		if st.activeKnown {
			f.Message += " and running"
		}
	}
	return f
}
