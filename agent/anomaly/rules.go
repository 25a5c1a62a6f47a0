// Package anomaly is nodeguard's eBPF runtime anomaly detection: it loads the
// programs of package bpf, feeds them the policy's filters, decodes what they
// report, attributes it to processes and containers, applies the userspace
// half of the allowlists, and hands events to subscribers and metrics.
package anomaly

import "github.com/nodeguard/nodeguard/probes/model/finding"

// Rule is a detection rule; its value is the rule's bit in the BPF programs
// (R_* in bpf/runtime.c).
type Rule uint

const (
	UnexpectedListener Rule = iota
	ShellInContainer
	ExecFromWritableDir
	KernelModuleLoad
	PtraceAttach
	SetuidRoot
	SensitiveFileWrite
	NamespaceEscape
	BPFLoad
	PackageManagerInContainer
	numRules
)

type ruleInfo struct {
	id          string
	description string
	severity    finding.Severity
	hooks       []hook
}

var rules = [numRules]ruleInfo{
	UnexpectedListener: {"unexpected-listener", "A socket entered LISTEN on a port the port policy does not allow for this node's role.", finding.High, []hook{hookListen}},
	ShellInContainer:   {"shell-in-container", "A shell was executed inside a container.", finding.High, []hook{hookExec}},
	ExecFromWritableDir: {"exec-from-writable-dir", "A file was executed from a world-writable or volatile directory (/tmp, /var/tmp, /dev/shm, /run), from a memfd, or after being deleted.",
		finding.High, []hook{hookExec}},
	KernelModuleLoad:   {"kernel-module-load", "A kernel module was loaded.", finding.Critical, []hook{hookModule}},
	PtraceAttach:       {"ptrace-attach", "A process attached to, or wrote the memory of, another process with ptrace.", finding.High, []hook{hookSysEnter}},
	SetuidRoot:         {"setuid-root", "A non-root process gained uid 0 (setuid-family call or a setuid-root binary).", finding.High, []hook{hookExec, hookSysEnter}},
	SensitiveFileWrite: {"sensitive-file-write", "A sensitive host file (accounts, sudoers, sshd, Kubernetes configuration, ld.so.preload) was opened for writing.", finding.High, []hook{hookSysEnter}},
	NamespaceEscape:    {"namespace-escape", "A process inside a container called setns, unshare or mount.", finding.Critical, []hook{hookSysEnter}},
	BPFLoad:            {"bpf-load", "A process not on the allowlist loaded an eBPF program.", finding.High, []hook{hookSysEnter}},
	PackageManagerInContainer: {"package-manager-in-container", "A package manager was executed inside a container (containers should be immutable).",
		finding.Medium, []hook{hookExec}},
}

// ID is the rule's id, the `rule` label of the metrics.
func (r Rule) String() string {
	if r < numRules {
		return rules[r].id
	}
	return "unknown"
}

// Description says what the rule detects.
func (r Rule) Description() string {
	if r < numRules {
		return rules[r].description
	}
	return ""
}

// Rules lists every rule in bit order.
func Rules() []Rule {
	out := make([]Rule, numRules)
	for i := range out {
		out[i] = Rule(i)
	}
	return out
}
