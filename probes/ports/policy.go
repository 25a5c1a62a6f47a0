package ports

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

//go:embed policy.yaml
var defaultPolicy []byte

func init() {
	policy.Register(Name, defaultPolicy, func() any { return new(Policy) })
}

// Policy is the `ports` section of the policy file.
type Policy struct {
	// Allowed are the listeners a Kubernetes node legitimately has: the port
	// tables of the Kubernetes security guidance and kubeadm's own services.
	// Setting it in a policy file replaces the built-in list.
	Allowed []Rule `json:"allowed"`
	// Allow is for the user's additions; it is empty by default so that a
	// policy file can add ports without repeating the built-in tables.
	Allow []Rule `json:"allow"`
	// Forbidden listeners fail even where an allow rule would match.
	Forbidden []Forbidden `json:"forbidden"`
	// UnexpectedSeverity applies to a listener no rule allows;
	// UnexpectedLoopbackSeverity when it is bound to loopback only and so
	// cannot be reached from the network.
	UnexpectedSeverity         finding.Severity `json:"unexpectedSeverity"`
	UnexpectedLoopbackSeverity finding.Severity `json:"unexpectedLoopbackSeverity"`
}

// Rule matches listeners. Empty fields match anything.
type Rule struct {
	Description string `json:"description"`
	// Roles limits the rule to control-plane or worker nodes.
	Roles []probes.Role `json:"roles,omitempty"`
	// Protocol is tcp, udp or any.
	Protocol string `json:"protocol"`
	// Ports is one port (10250) or an inclusive range ("30000-32767").
	Ports PortRange `json:"ports"`
	// Processes match the process name (comm) or the executable's base name.
	Processes []string `json:"processes,omitempty"`
	// Addresses the socket may be bound to: loopback, wildcard, non-loopback,
	// an IP address or a CIDR prefix.
	Addresses []string `json:"addresses,omitempty"`

	addrs []addrMatcher
	title string // the finding's title when the rule decides, made once
}

// Forbidden is a known-bad listener.
type Forbidden struct {
	Rule
	Severity    finding.Severity `json:"severity"`
	Remediation string           `json:"remediation"`
	References  []string         `json:"references,omitempty"`

	refs []string // References and the guidance, made once
}

// PortRange is an inclusive port range; it reads as 10250 or "30000-32767".
type PortRange struct{ Low, High uint16 }

func (r *PortRange) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		return r.parse(n.String())
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("ports: want a port number or \"low-high\", got %s", b)
	}
	return r.parse(s)
}

func (r PortRange) MarshalJSON() ([]byte, error) { return json.Marshal(r.String()) }

func (r *PortRange) parse(s string) error {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	if !isRange {
		hi = lo
	}
	l, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	h, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if err1 != nil || err2 != nil || l == 0 || l > h {
		return fmt.Errorf("ports: %q is not a port or an ascending range of ports 1-65535", s)
	}
	r.Low, r.High = uint16(l), uint16(h)
	return nil
}

func (r PortRange) String() string {
	if r.Low == r.High {
		return strconv.Itoa(int(r.Low))
	}
	return fmt.Sprintf("%d-%d", r.Low, r.High)
}

func (r PortRange) contains(p uint16) bool { return p >= r.Low && p <= r.High }

type addrMatcher func(netip.Addr) bool

func parseAddrMatcher(s string) (addrMatcher, error) {
	switch s {
	case "loopback":
		return func(a netip.Addr) bool { return a.Unmap().IsLoopback() }, nil
	case "wildcard":
		return func(a netip.Addr) bool { return a.IsUnspecified() }, nil
	case "non-loopback":
		return func(a netip.Addr) bool { return !a.Unmap().IsLoopback() }, nil
	}
	if pfx, err := netip.ParsePrefix(s); err == nil {
		pfx = pfx.Masked()
		return func(a netip.Addr) bool { return pfx.Contains(a.Unmap()) || pfx.Contains(a) }, nil
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		return func(a netip.Addr) bool { return a == ip || a.Unmap() == ip.Unmap() }, nil
	}
	return nil, fmt.Errorf("address %q: want loopback, wildcard, non-loopback, an IP address or a CIDR prefix", s)
}

func (r *Rule) validate(where string) error {
	switch r.Protocol {
	case "tcp", "udp", "any":
	default:
		return fmt.Errorf("%s: protocol %q: want tcp, udp or any", where, r.Protocol)
	}
	if r.Ports.Low == 0 {
		return fmt.Errorf("%s: ports is required", where)
	}
	for _, role := range r.Roles {
		if role != probes.ControlPlane && role != probes.Worker {
			return fmt.Errorf("%s: role %q: want control-plane or worker", where, role)
		}
	}
	r.addrs = r.addrs[:0]
	for _, a := range r.Addresses {
		m, err := parseAddrMatcher(a)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		r.addrs = append(r.addrs, m)
	}
	for _, p := range r.Processes {
		if p == "" {
			return fmt.Errorf("%s: empty process name", where)
		}
	}
	return nil
}

// Validate checks every rule and compiles its address matchers.
func (p *Policy) Validate() error {
	var errs []error
	for i := range p.Allowed {
		errs = append(errs, p.Allowed[i].validate(fmt.Sprintf("allowed[%d]", i)))
		p.Allowed[i].title = "Allowed listener: " + p.Allowed[i].Description
	}
	for i := range p.Allow {
		errs = append(errs, p.Allow[i].validate(fmt.Sprintf("allow[%d]", i)))
		p.Allow[i].title = "Allowed listener: " + p.Allow[i].Description
	}
	for i := range p.Forbidden {
		f := &p.Forbidden[i]
		errs = append(errs, f.validate(fmt.Sprintf("forbidden[%d]", i)))
		f.title = "Forbidden listener: " + f.Description
		f.refs = append(slices.Clip(f.References), guidanceRef)
		errs = append(errs, f.Severity.Check(fmt.Sprintf("forbidden[%d]: severity", i)))
	}
	for _, s := range []finding.Severity{p.UnexpectedSeverity, p.UnexpectedLoopbackSeverity} {
		errs = append(errs, s.Check("unexpected severity"))
	}
	return errors.Join(errs...)
}

// Listener is one socket with its owners, as the policy judges it: the ports
// probe fills it from the socket tables, the runtime rule unexpected-listener
// from a kernel event.
type Listener struct {
	Socket
	Owners []*Process
	// Self marks a socket known to be the agent's own: the runtime knows the
	// pid, the scan only the process name.
	Self bool
}

// VerdictKind is what the policy says of a listener.
type VerdictKind uint8

const (
	VerdictUnexpected VerdictKind = iota // no rule allows it
	VerdictAllowed
	VerdictForbidden
	VerdictBoundWider // a rule allows the service, but on narrower addresses
)

func (k VerdictKind) String() string {
	switch k {
	case VerdictAllowed:
		return "allowed"
	case VerdictForbidden:
		return "forbidden"
	case VerdictBoundWider:
		return "bound wider than allowed"
	}
	return "unexpected"
}

// Verdict is the policy's judgement of one listener.
type Verdict struct {
	Kind VerdictKind
	// Severity is info when allowed, the forbidden rule's, else the policy's
	// unexpected severity (its loopback one for a loopback-only socket).
	Severity finding.Severity
	// Rule is the rule that decided: the allowing or forbidden one, or the
	// one bound wider than it allows; nil when unexpected.
	Rule *Rule
	// Forbidden is set with VerdictForbidden, for its remediation.
	Forbidden *Forbidden
}

// agentRule allows the sockets the agent itself serves (probes.Listener).
var agentRule = Rule{
	Description: "nodeguard's own endpoint", Processes: []string{"nodeguard", "nodeguard-agent"},
	title: "Allowed listener: nodeguard's own endpoint",
}

// Judge judges one listener for a node of the given role; agent are the
// sockets the agent itself serves. The ports probe and the runtime rule
// unexpected-listener both judge through it, so they cannot disagree about a
// socket. The policy must have been validated (policy.Section does): that is
// where its addresses were parsed.
func (p *Policy) Judge(role probes.Role, agent []probes.Listener, l *Listener) Verdict {
	for i := range p.Forbidden {
		f := &p.Forbidden[i]
		if svc, addr := f.matchParts(role, l); svc && addr {
			return Verdict{Kind: VerdictForbidden, Severity: f.Severity, Rule: &f.Rule, Forbidden: f}
		}
	}
	var wider *Rule
	for _, rules := range [][]Rule{p.Allowed, p.Allow} {
		for i := range rules {
			r := &rules[i]
			svc, addr := r.matchParts(role, l)
			if svc && addr {
				return Verdict{Kind: VerdictAllowed, Severity: finding.Info, Rule: r}
			}
			if svc && wider == nil {
				wider = r
			}
		}
	}
	for _, a := range agent {
		if a.Port == int(l.Port) && (a.Protocol == "any" || a.Protocol == l.Protocol) &&
			(l.Self || agentRule.matchesProcess(l)) {
			return Verdict{Kind: VerdictAllowed, Severity: finding.Info, Rule: &agentRule}
		}
	}
	v := Verdict{Kind: VerdictUnexpected, Severity: p.UnexpectedSeverity}
	if l.Addr.Unmap().IsLoopback() {
		v.Severity = p.UnexpectedLoopbackSeverity
	}
	if wider != nil {
		v.Kind, v.Rule = VerdictBoundWider, wider
	}
	return v
}

// matchParts reports which parts of the rule a listener satisfies, so that a
// listener allowed on loopback but bound to 0.0.0.0 can be called out as
// "bound wider than allowed" rather than merely "unexpected".
func (r *Rule) matchParts(role probes.Role, l *Listener) (service, address bool) {
	// The port first: it is the cheapest test and rules out almost every
	// rule, and Judge tries every rule against each of 10,000 listeners.
	if !r.Ports.contains(l.Port) {
		return false, false
	}
	if len(r.Roles) > 0 && !containsRole(r.Roles, role) {
		return false, false
	}
	if r.Protocol != "any" && r.Protocol != l.Protocol {
		return false, false
	}
	if len(r.Processes) > 0 && !r.matchesProcess(l) {
		return false, false
	}
	if len(r.addrs) == 0 {
		return true, true
	}
	for _, m := range r.addrs {
		if m(l.Addr) {
			return true, true
		}
	}
	return true, false
}

func (r *Rule) matchesProcess(l *Listener) bool {
	for _, p := range l.Owners {
		for _, want := range r.Processes {
			if p.Name == want || (p.Exe != "" && path.Base(p.Exe) == want) {
				return true
			}
		}
	}
	return false
}

func containsRole(rs []probes.Role, r probes.Role) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}
