package anomaly

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/ports"
)

// judge turns raw kernel events into attributed rule events, applying the
// parts of the policy the kernel cannot: executable paths, namespaces and the
// port table.
type judge struct {
	pol            *Policy
	ports          *ports.Policy
	role           func() probes.Role
	agentListeners []probes.Listener
	procs          *procCache
	pods           PodResolver
	syscalls       map[uint32]string
	bootTime       time.Time
	// cgroups resolves the cgroup ids of the simple variant's events.
	cgroups *cgroupIndex
}

// events returns one Event per rule the raw event matched and that the
// userspace allowlists do not excuse.
func (j *judge) events(r *raw) []Event {
	base := j.attribute(r)
	var out []Event
	for _, rule := range Rules() {
		if r.Rules&(1<<rule) == 0 || !j.decided(rule, r, &base) {
			continue
		}
		ev := base
		ev.Details = map[string]string{}
		cfg := j.pol.Rule(rule)
		ev.Rule, ev.Description, ev.Severity = rule.String(), rule.Description(), cfg.Severity
		if !cfg.IsEnabled() || j.allowed(cfg, &ev) {
			continue
		}
		if !j.detail(rule, r, &ev) {
			continue
		}
		out = append(out, ev)
	}
	return out
}

func (j *judge) attribute(r *raw) Event {
	ev := Event{
		Time: j.bootTime.Add(time.Duration(r.TsNs)),
		PID:  r.PID, TID: r.TID, PPID: r.PPID, UID: r.UID, EUID: r.EUID,
		Comm: r.Comm, ParentComm: r.ParentComm, CgroupID: r.CgroupID, Cgroup: r.Cgroup,
		Args: r.Args, ArgsCut: r.ArgsCut,
	}
	if r.Flags&flagContainerUnknown != 0 {
		j.decideContainer(r)
		ev.Cgroup = r.Cgroup
	}
	if r.Kind == kindExec {
		ev.Exe = r.Path
		if r.Flags&flagDeleted != 0 {
			ev.Exe += " (deleted)"
		}
		if j.procs != nil {
			j.procs.exec(r.PID, r.PPID, r.Comm, ev.Exe)
		}
	}
	if j.procs != nil {
		if ev.Exe == "" {
			if e := j.procs.get(r.PID); e != nil {
				ev.Exe = e.exe
				if ev.Cgroup == "" && r.Flags&flagInContainer != 0 {
					ev.Cgroup = e.cgroup
				}
			}
		}
		ev.Ancestors = j.procs.ancestors(r.PPID)
	}
	if r.Flags&flagInContainer != 0 {
		ev.Runtime, ev.ContainerID, _ = ParseContainerID(ev.Cgroup)
		if j.pods != nil && ev.ContainerID != "" {
			ev.Namespace, ev.Pod, ev.ContainerName, _ = j.pods.Lookup(ev.ContainerID)
		}
	}
	return ev
}

// decideContainer does for the simple variant what the full one does in the
// kernel: it finds the process's cgroup (from /proc while the process lives,
// else from the cgroup id) and marks the event in a container when the cgroup
// names one.
func (j *judge) decideContainer(r *raw) {
	cg := ""
	if j.procs != nil {
		if e := j.procs.get(r.PID); e != nil {
			cg = e.cgroup
		}
	}
	if containerComponent(cg) == "" {
		if p, ok := j.cgroups.lookup(r.CgroupID); ok {
			cg = p
		}
	}
	if name := containerComponent(cg); name != "" {
		r.Flags |= flagInContainer
		r.Cgroup = name
	}
}

// decided applies what the simple variant left to user space: container
// membership, and execs of a relative name, resolved against the process's
// working directory. The full variant's events pass unchanged.
func (j *judge) decided(rule Rule, r *raw, ev *Event) bool {
	in := r.Flags&flagInContainer != 0
	if r.Flags&flagContainerUnknown != 0 {
		switch rule {
		case ShellInContainer, PackageManagerInContainer, NamespaceEscape:
			if !in {
				return false
			}
		case SensitiveFileWrite:
			if in {
				return false
			}
		}
	}
	if rule == ExecFromWritableDir && r.Flags&flagPathFromName != 0 &&
		r.Flags&(flagDeleted|flagMemfd) == 0 && !strings.HasPrefix(r.Path, "/") {
		if j.procs == nil {
			return false
		}
		cwd, err := j.procs.root.Readlink("/proc/" + strconv.FormatUint(uint64(r.PID), 10) + "/cwd")
		if err != nil || !path.IsAbs(cwd) {
			return false
		}
		abs := path.Join(cwd, r.Path)
		if !j.pol.matchesWritableDir(abs) {
			return false
		}
		ev.Exe = abs
	}
	return true
}

// allowed applies the allowlists; process names were already applied in the
// kernel, paths and namespaces only here.
func (j *judge) allowed(cfg *RuleConfig, ev *Event) bool {
	for _, a := range cfg.AllowProcesses {
		if a == ev.Comm || (strings.HasPrefix(a, "/") && a == ev.Exe) {
			return true
		}
	}
	return ev.Namespace != "" && slices.Contains(cfg.AllowNamespaces, ev.Namespace)
}

// detail fills the rule-specific fields; false drops the event (a listener
// the port policy allows).
func (j *judge) detail(rule Rule, r *raw, ev *Event) bool {
	if r.Kind == kindSyscall {
		ev.Syscall = j.syscalls[r.Nr]
		if ev.Syscall == "" {
			ev.Syscall = "syscall " + strconv.FormatUint(uint64(r.Nr), 10)
		}
	}
	who := fmt.Sprintf("%s (pid %d, uid %d)", ev.Comm, ev.PID, ev.UID)
	where := ""
	if ev.ContainerID != "" {
		where = " in container " + short(ev.ContainerID)
		if ev.Pod != "" {
			where = fmt.Sprintf(" in pod %s/%s container %s", ev.Namespace, ev.Pod, ev.ContainerName)
		}
	}
	switch rule {
	case UnexpectedListener:
		addr, proto := listenAddr(r)
		port := uint16(r.Arg0)
		ev.Details["port"] = strconv.Itoa(int(port))
		ev.Details["address"] = addr.String()
		ev.Details["protocol"] = proto
		// The policy names tcp and udp; the event says tcp6 for IPv6, as ss does.
		protocol := strings.TrimSuffix(proto, "6")
		what := strings.ToUpper(protocol) + " " + netip.AddrPortFrom(addr, port).String() + where
		role := j.currentRole()
		ev.Message = fmt.Sprintf("%s listens on %s, a port not allowed on a %s node", who, what, role)
		if j.ports == nil {
			break // without the ports policy every listener is unexpected
		}
		v := j.ports.Judge(role, j.agentListeners, &ports.Listener{
			Socket: ports.Socket{Protocol: protocol, Addr: addr, Port: port},
			Owners: []*ports.Process{{PID: int(ev.PID), Name: ev.Comm, Exe: ev.Exe}},
			Self:   ev.PID == uint32(selfPID),
		})
		ev.Severity = v.Severity
		switch v.Kind {
		case ports.VerdictAllowed:
			return false
		case ports.VerdictForbidden:
			ev.Details["rule"] = v.Rule.Description
			ev.Message = fmt.Sprintf("%s listens on %s, the %s, which must not be open on a %s node",
				who, what, v.Rule.Description, role)
		case ports.VerdictBoundWider:
			ev.Details["rule"] = v.Rule.Description
			ev.Message = fmt.Sprintf("%s listens on %s, the %s, allowed only on %s",
				who, what, v.Rule.Description, strings.Join(v.Rule.Addresses, ", "))
		}
	case ShellInContainer, PackageManagerInContainer:
		ev.Path = r.Path
		what := "shell"
		if rule == PackageManagerInContainer {
			what = "package manager"
		}
		ev.Message = fmt.Sprintf("%s ran %s %s%s", parentOf(ev), what, r.Path, where)
	case ExecFromWritableDir:
		ev.Path = ev.Exe
		switch {
		case r.Flags&flagMemfd != 0:
			ev.Details["memfd"] = "true"
			ev.Message = fmt.Sprintf("%s executed a memfd (%s)%s", parentOf(ev), r.Path, where)
		case r.Flags&flagDeleted != 0:
			ev.Details["deleted"] = "true"
			ev.Message = fmt.Sprintf("%s executed the deleted file %s%s", parentOf(ev), r.Path, where)
		default:
			ev.Message = fmt.Sprintf("%s executed %s%s, from a writable directory", parentOf(ev), r.Path, where)
		}
	case KernelModuleLoad:
		ev.Details["module"] = r.Path
		ev.Message = fmt.Sprintf("%s loaded kernel module %s", who, r.Path)
	case PtraceAttach:
		ev.Details["request"] = ptraceRequest(r.Arg0)
		ev.Details["target_pid"] = strconv.FormatUint(uint64(r.Arg1), 10)
		if t := j.procComm(r.Arg1); t != "" {
			ev.Details["target_comm"] = t
		}
		ev.Message = fmt.Sprintf("%s called ptrace(%s) on pid %d%s", who, ev.Details["request"], r.Arg1, where)
	case SetuidRoot:
		if r.Kind == kindExec {
			ev.Path = r.Path
			ev.Details["via"] = "setuid-root binary"
			ev.Message = fmt.Sprintf("uid %d gained euid 0 by executing the setuid-root binary %s%s", r.UID, r.Path, where)
		} else {
			ev.Details["via"] = ev.Syscall
			ev.Details["ruid"], ev.Details["euid"], ev.Details["suid"] = uidArg(r.Arg0), uidArg(r.Arg1), uidArg(r.Arg2)
			ev.Message = fmt.Sprintf("%s called %s to become root%s", who, ev.Syscall, where)
		}
	case SensitiveFileWrite:
		ev.Path = r.Path
		ev.Details["flags"] = "0" + strconv.FormatUint(uint64(r.Arg0), 8)
		ev.Message = fmt.Sprintf("%s opened %s for writing", who, r.Path)
	case NamespaceEscape:
		if r.Path != "" {
			ev.Path = r.Path
		}
		ev.Details["arg0"] = "0x" + strconv.FormatUint(uint64(r.Arg0), 16)
		ev.Message = fmt.Sprintf("%s called %s%s", who, ev.Syscall, where)
	case BPFLoad:
		ev.Message = fmt.Sprintf("%s loaded an eBPF program (bpf(BPF_PROG_LOAD))%s", who, where)
	}
	return true
}

func parentOf(ev *Event) string {
	if ev.ParentComm != "" {
		return fmt.Sprintf("%s (pid %d, uid %d)", ev.ParentComm, ev.PPID, ev.UID)
	}
	return fmt.Sprintf("pid %d (uid %d)", ev.PPID, ev.UID)
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func (j *judge) procComm(pid uint32) string {
	if j.procs == nil {
		return ""
	}
	if e := j.procs.get(pid); e != nil {
		return e.comm
	}
	return ""
}

func (j *judge) currentRole() probes.Role {
	if j.role == nil {
		return probes.Worker
	}
	if r := j.role(); r != "" {
		return r
	}
	return probes.Worker
}
