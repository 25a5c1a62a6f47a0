package accounts

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/sshd"
)

// judgeRootLock evaluates sshd's effective configuration for every context
// a root connection can reach and judges whether root's locked password
// keeps key-based root logins out.
func judgeRootLock(env *probes.Env, pol *Policy, accts []Account) []finding.Finding {
	i := slices.IndexFunc(accts, func(a Account) bool { return a.Name == "root" })
	if i < 0 || accts[i].Password.State == Unknown {
		return nil // the root-password finding already says why
	}
	// The sshd probe's policy says where the configuration is; both probes
	// judge the one configuration, computed once per scan.
	hc := sshd.HostConfig(env)
	if !env.Root.Exists(hc.ConfigPath) {
		return []finding.Finding{{
			ID: IDRootLockSSH, Probe: Name, Status: finding.Skip, Severity: finding.Info,
			Title: "sshd is not configured", Message: hc.ConfigPath + " does not exist",
			References: []string{}, Evidence: finding.Evidence{},
		}}
	}
	if hc.Err != nil {
		f := finding.ErrorFinding(Name, IDRootLockSSH, "sshd's effective configuration could not be computed",
			fmt.Errorf("sshd configuration: %w", hc.Err))
		f.Severity = finding.Medium
		return []finding.Finding{f}
	}
	ctxs := hc.Root
	// UsePAM is a global keyword; PermitRootLogin may differ per Match
	// block: the verdict follows the most permissive context.
	v := sshdView{Config: hc.ConfigPath, UsePAM: ctxs[0].Config.Get("usepam"), PermitRootLogin: "no"}
	var permitting []string
	for _, c := range ctxs {
		if prl := c.Config.Get("permitrootlogin"); !strings.EqualFold(prl, "no") {
			if v.PermitRootLogin == "no" {
				v.PermitRootLogin = prl
			}
			permitting = append(permitting, c.Describe())
		}
	}
	f := rootLockVerdict(pol, &accts[i], v)
	if len(permitting) > 0 {
		f.Evidence.Set("permittingContexts", strings.Join(permitting, "; "))
		if f.Status == finding.Fail {
			f.Message += " (root login permitted in: " + strings.Join(permitting, "; ") + ")"
		}
	}
	return []finding.Finding{f}
}
