// Package ports is the listening-port audit: every listening TCP and bound UDP
// socket in the host's network namespace, with its owning process, judged
// against the Kubernetes port tables for the node's role.
package ports

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/nodeguard/nodeguard/bpf/sockiter"
	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// Name is the probe's id.
const Name = "ports"

// Finding ids of this probe.
const (
	IDListener = "ports.listener"
	IDOwners   = "ports.owners"
	IDSockets  = "ports.sockets"
)

// addrString formats the few distinct addresses a host listens on once each.
func addrString(a netip.Addr) string {
	switch a {
	case addrAny4:
		return "0.0.0.0"
	case addrLoopback4:
		return "127.0.0.1"
	case addrAny6:
		return "::"
	case addrLoopback6:
		return "::1"
	}
	return a.String()
}

var (
	addrAny4      = netip.IPv4Unspecified()
	addrLoopback4 = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	addrAny6      = netip.IPv6Unspecified()
	addrLoopback6 = netip.IPv6Loopback()
)

func init() { probes.Register(Name, func() probes.Probe { return &Probe{} }) }

// Probe keeps the previous scan's owners: when the set of listening sockets
// has not changed, a rescan only checks that the owning processes still live
// instead of walking every fd of every process again.
type Probe struct {
	cacheKey map[uint64]struct{} // the socket inodes cache was walked for
	cache    *ownerScan

	// The last verdicts, reused while sockets, owners, role and policy are
	// all unchanged: judging 10,000 listeners costs more than reading them.
	lastVerdicts []finding.Finding
	lastRole     probes.Role
	lastPolicy   *Policy
	lastAgent    []probes.Listener

	useDiag *bool // decided on the first scan
	useIter *bool // BPF socket iterator: decided on first use, off after a failure
	iter    *sockiter.Iterator
}

func (*Probe) Name() string { return Name }

// listener is the probe's short name for a socket with its owners.
type listener = Listener

func (p *Probe) Run(ctx context.Context, env *probes.Env) []finding.Finding {
	// A cold scan walks every process's fds while the socket tables are
	// read; a rescan reads the tables first, as they decide whether the last
	// walk can be reused. The walking goroutine also keeps only the owners
	// of the sockets read here, and reads those processes.
	var early chan ownerResult
	var read chan []Socket
	if p.cache == nil {
		early, read = make(chan ownerResult, 1), make(chan []Socket, 1)
		go func() {
			res, err := p.walkOwners(env.Root, env.Log, nil)
			socks := <-read
			var want map[uint64]struct{}
			if err == nil {
				want = inodeSet(socks)
				res.limit(env.Root, want)
			}
			early <- ownerResult{res, want, err}
		}()
	}
	sent := false
	defer func() {
		if read != nil && !sent {
			read <- nil // a panic below must not leave the walker waiting
		}
	}()
	socks, err := p.sockets(env.Root)
	if read != nil {
		read <- socks
		sent = true
	}
	var out []finding.Finding
	if err != nil {
		out = append(out, finding.ErrorFinding(Name, IDSockets, "Socket tables could not be read",
			fmt.Errorf("reading the host's socket tables: %w", err)))
	}
	// Decoding the policy section on first use (about 0.6 ms) and detecting
	// the node's role (about 1 ms): on a cold scan, while the owner walk
	// still runs.
	pol := policy.Section[Policy](env.Policy, Name)
	role := env.NodeRole()
	owners, reused, err := p.owners(env, socks, early)
	if err != nil {
		out = append(out, finding.ErrorFinding(Name, IDOwners, "Socket owners could not be read",
			fmt.Errorf("walking %s/proc: %w", env.Root.Path(), err)))
		owners = &ownerScan{}
	}
	if owners.denied > 0 {
		f := finding.ErrorFinding(Name, IDOwners, "Some socket owners could not be identified",
			fmt.Errorf("the file descriptors of %d process(es) could not be read (permission denied); "+
				"listeners they own are reported without a process", owners.denied))
		f.Severity = finding.Medium
		f.Remediation = catalog.Get(IDOwners).Remediation
		f.Evidence = finding.EvidenceOf(map[string]string{"processes": strconv.Itoa(owners.denied)})
		out = append(out, f)
	}

	if reused && p.lastVerdicts != nil && role == p.lastRole && pol == p.lastPolicy &&
		slices.Equal(env.AgentListeners, p.lastAgent) {
		return appendVerdicts(out, p.lastVerdicts)
	}
	verdicts := judgeAll(pol, env.AgentListeners, role, socks, owners)
	p.lastVerdicts, p.lastRole, p.lastPolicy = verdicts, role, pol
	p.lastAgent = slices.Clone(env.AgentListeners)
	if owners != p.cache {
		p.lastVerdicts = nil // not cacheable: the owner walk failed or was partial
	}
	return appendVerdicts(out, verdicts)
}

// appendVerdicts returns out and verdicts as one slice. Usually out is empty
// and verdicts is returned as it is, not copied: callers do not modify a
// probe's findings (the scanner copies them into the report once).
func appendVerdicts(out, verdicts []finding.Finding) []finding.Finding {
	if len(out) == 0 {
		return verdicts
	}
	return append(out, verdicts...)
}

// owners returns the owners of socks, reusing the last walk when the socket
// set is the same and every owning process is still the same process.
func (p *Probe) owners(env *probes.Env, socks []Socket, early <-chan ownerResult) (_ *ownerScan, reused bool, _ error) {
	if early != nil {
		r := <-early
		if r.err != nil {
			p.cache = nil
			return nil, false, r.err
		}
		p.cache, p.cacheKey = r.scan, r.want
		return r.scan, false, nil
	}
	want := inodeSet(socks)
	if p.cache != nil && sameSet(want, p.cacheKey) && p.cache.denied == 0 {
		valid := true
		for _, proc := range p.cache.procs {
			if !processUnchanged(env.Root, proc) {
				valid = false
				break
			}
		}
		if valid {
			return p.cache, true, nil
		}
	}
	res, err := p.walkOwners(env.Root, env.Log, want)
	if err != nil {
		p.cache = nil
		return nil, false, err
	}
	p.cache, p.cacheKey = res, want
	return res, false, nil
}

// inodeSet is the set of socks' inodes.
func inodeSet(socks []Socket) map[uint64]struct{} {
	set := make(map[uint64]struct{}, len(socks))
	for _, s := range socks {
		set[s.Inode] = struct{}{}
	}
	return set
}

// sameSet tells whether a and b hold the same inodes.
func sameSet(a, b map[uint64]struct{}) bool {
	if len(a) != len(b) {
		return false
	}
	for ino := range a {
		if _, ok := b[ino]; !ok {
			return false
		}
	}
	return true
}

// sockets lists the host's sockets through sock_diag when the agent shares
// the host's network namespace, else from HOSTROOT/proc/1/net (or
// /proc/net): the only way into a host tree that is not the running host.
func (p *Probe) sockets(root *hostfs.Root) ([]Socket, error) {
	if p.useDiag == nil {
		same := sameNetNS(root)
		p.useDiag = &same
	}
	if *p.useDiag {
		socks, err := diagSockets(socketCountHint(root))
		if err == nil {
			return socks, nil
		}
		// Refused (no CAP_NET_ADMIN is needed, but a seccomp profile may
		// block netlink): the files give the same answer, more slowly.
		no := false
		p.useDiag = &no
	}
	return readSockets(root, netDir(root))
}

type ownerResult struct {
	scan *ownerScan
	want map[uint64]struct{} // the inodes scan was limited to
	err  error
}

// judgeParallelMin is the number of sockets from which judging is split
// across cores: 10,000 listeners take about 7.5 ms of one core.
const judgeParallelMin = 1024

// judgeAll judges every socket, in order.
func judgeAll(pol *Policy, agent []probes.Listener, role probes.Role, socks []Socket, owners *ownerScan) []finding.Finding {
	verdicts := make([]finding.Finding, len(socks))
	judgeRange := func(lo, hi int) {
		var l listener
		// The evidence of the whole range is one array, each finding's a
		// full slice of it: appending to one copies it out.
		fields := make([]finding.Field, 0, (hi-lo)*maxEvidenceKeys)
		lastPID, lastProc := 0, (*Process)(nil) // one process usually holds many listeners
		for i := lo; i < hi; i++ {
			// judge keeps nothing of l: its owner slice is reused.
			l.Socket, l.Owners = socks[i], l.Owners[:0]
			for _, pid := range owners.byInode[l.Inode] {
				if pid != lastPID {
					lastPID, lastProc = pid, owners.procs[pid]
				}
				if lastProc != nil {
					l.Owners = append(l.Owners, lastProc)
				}
			}
			var rule *Rule
			verdicts[i], rule = judge(pol, agent, role, &l)
			start := len(fields)
			fields = appendEvidence(fields, &l, rule)
			verdicts[i].Evidence = fields[start:len(fields):len(fields)]
		}
	}
	parts := 1
	if len(socks) >= judgeParallelMin {
		parts = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	chunk := max((len(socks)+parts-1)/parts, 1)
	for lo := chunk; lo < len(socks); lo += chunk {
		wg.Go(func() { judgeRange(lo, min(lo+chunk, len(socks))) })
	}
	judgeRange(0, min(chunk, len(socks))) // the first part here: no wake-up to wait for
	wg.Wait()
	return verdicts
}

// judge turns one listener into its finding, without evidence, and
// returns the rule that allows it, if one does.
func judge(pol *Policy, agent []probes.Listener, role probes.Role, l *listener) (finding.Finding, *Rule) {
	f := finding.Finding{
		ID: IDListener, Probe: Name,
		References: listenerEntry.References,
	}
	// The message starts with the listener's description; it is built in
	// one buffer on the stack, as this runs once per socket.
	var buf [192]byte
	what := appendDescription(buf[:0], l)
	message := func(parts ...string) string {
		b := what
		for _, p := range parts {
			b = append(b, p...)
		}
		return string(b)
	}
	v := pol.Judge(role, agent, l)
	f.Severity = v.Severity
	switch v.Kind {
	case VerdictForbidden:
		r := v.Forbidden
		f.Status = finding.Fail
		f.Title = r.title
		f.Message = message(" is the ", r.Description, ", which must not be open on a ", string(role), " node")
		f.Remediation = r.Remediation
		f.References = r.refs
	case VerdictAllowed:
		f.Status = finding.Pass
		f.Title = v.Rule.title
		f.Message = message(" is allowed on a ", string(role), " node (", v.Rule.Description, ")")
	case VerdictBoundWider:
		r := v.Rule
		f.Status = finding.Fail
		f.Title = "Listener bound wider than allowed"
		f.Message = message(" is the ", r.Description, ", allowed only on ", strings.Join(r.Addresses, ", "))
		f.Remediation = fmt.Sprintf("Bind the %s to %s only.", r.Description, strings.Join(r.Addresses, " or "))
	default:
		f.Status = finding.Fail
		f.Title = "Unexpected open port"
		f.Message = message(" is not in the port table of a ", string(role), " node")
		f.Remediation = listenerEntry.Remediation
	}
	return f, v.Rule
}

// appendDescription appends "TCP 127.0.0.1:80 (nginx, pid 42)" to b.
func appendDescription(b []byte, l *listener) []byte {
	if l.Protocol == "udp" {
		b = append(b, "UDP "...)
	} else {
		b = append(b, "TCP "...)
	}
	b = netip.AddrPortFrom(l.Addr, l.Port).AppendTo(b)
	if len(l.Owners) > 0 {
		b = append(b, " ("...)
		b = append(b, l.Owners[0].Name...)
		b = append(b, ", pid "...)
		b = strconv.AppendInt(b, int64(l.Owners[0].PID), 10)
		b = append(b, ')')
	}
	return b
}

// maxEvidenceKeys is the most keys appendEvidence writes.
const maxEvidenceKeys = 10

// appendEvidence appends a listener's evidence to fields, in key order:
// its socket, its first owner (and every owner's pid when there are more),
// and the rule that allows it, if one does.
func appendEvidence(fields []finding.Field, l *listener, rule *Rule) []finding.Field {
	var o *Process
	if len(l.Owners) > 0 {
		o = l.Owners[0]
	}
	fields = append(fields, finding.Field{Key: "address", Value: addrString(l.Addr)})
	if o != nil && o.Container != "" {
		fields = append(fields, finding.Field{Key: "container", Value: o.Container})
	}
	if o != nil && o.Exe != "" {
		fields = append(fields, finding.Field{Key: "executable", Value: o.Exe})
	}
	fields = append(fields, finding.Field{Key: "inode", Value: strconv.FormatUint(l.Inode, 10)})
	if o != nil {
		fields = append(fields, finding.Field{Key: "pid", Value: o.pidString()})
	}
	if len(l.Owners) > 1 {
		pids := make([]string, len(l.Owners))
		for i, ow := range l.Owners {
			pids[i] = strconv.Itoa(ow.PID)
		}
		fields = append(fields, finding.Field{Key: "pids", Value: strings.Join(pids, ",")})
	}
	fields = append(fields, finding.Field{Key: "port", Value: strconv.Itoa(int(l.Port))})
	if o != nil {
		fields = append(fields, finding.Field{Key: "process", Value: o.Name})
	}
	fields = append(fields, finding.Field{Key: "protocol", Value: l.Protocol})
	if rule != nil {
		fields = append(fields, finding.Field{Key: "rule", Value: rule.Description})
	}
	return fields
}
