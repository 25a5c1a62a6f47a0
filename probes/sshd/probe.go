package sshd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

// Name is the probe's id.
const Name = "sshd"

// Finding ids of this probe.
const (
	IDConfig            = "sshd.config"
	IDRootLogin         = "sshd.root-login"
	IDPasswordAuth      = "sshd.password-auth"
	IDEmptyPasswords    = "sshd.empty-passwords"
	IDX11Forwarding     = "sshd.x11-forwarding"
	IDMaxAuthTries      = "sshd.max-auth-tries"
	IDWeakCiphers       = "sshd.weak-ciphers"
	IDWeakMACs          = "sshd.weak-macs"
	IDWeakKex           = "sshd.weak-kex"
	IDLoginGraceTime    = "sshd.login-grace-time"
	IDClientAlive       = "sshd.client-alive"
	IDAccessRestriction = "sshd.access-restriction"
)

const (
	sshdBinary      = "/usr/sbin/sshd"
	remediationTail = " Check the result with `nodeguard sshd effective` (or `sshd -T`) and reload sshd."
)

func init() { probes.Register(Name, func() probes.Probe { return &Probe{} }) }

// Host is sshd's effective configuration on the scanned host, from the
// policy's configPath: the contexts a root connection can reach (Root) and
// every user's. The sshd and accounts probes judge the same one.
type Host struct {
	ConfigPath string
	Root       []Context
	all        []Context
	eval       *evaluator
	// Err is why the configuration could not be computed.
	Err error
}

// HostConfig computes the host's effective sshd configuration once per scan.
func HostConfig(env *probes.Env) *Host {
	return probes.Shared(env, Name+".effective", func() *Host {
		h := &Host{ConfigPath: policy.Section[Policy](env.Policy, Name).ConfigPath}
		if h.eval, h.Err = load(env.Root, h.ConfigPath); h.Err != nil {
			return h
		}
		if h.Root, h.Err = h.eval.contexts("root"); h.Err != nil {
			return h
		}
		h.all, h.Err = h.eval.contexts("")
		return h
	})
}

// Probe judges sshd's effective configuration.
type Probe struct{}

func (*Probe) Name() string { return Name }

func (*Probe) Run(ctx context.Context, env *probes.Env) []finding.Finding {
	pol := policy.Section[Policy](env.Policy, Name)
	path := pol.ConfigPath
	if !env.Root.Exists(path) && !env.Root.Exists(sshdBinary) {
		return []finding.Finding{{
			ID: IDConfig, Probe: Name, Status: finding.Skip, Severity: finding.Info,
			Title:    "sshd is not installed",
			Message:  fmt.Sprintf("neither %s nor %s exists on the host", path, sshdBinary),
			Evidence: finding.EvidenceOf(map[string]string{"file": path}),
		}}
	}
	hc := HostConfig(env)
	if hc.Err != nil {
		return []finding.Finding{configError(path, hc.Err)}
	}
	e, rootCtx, allCtx := hc.eval, hc.Root, hc.all
	j := &judge{pol: pol, files: e.files}
	out := []finding.Finding{{
		ID: IDConfig, Probe: Name, Status: finding.Pass, Severity: finding.Info,
		Title:   "sshd configuration is valid",
		Message: fmt.Sprintf("sshd accepts %s (%d file(s), %d Match block(s))", path, len(e.files), len(e.p.blocks)),
		Evidence: finding.EvidenceOf(map[string]string{
			"file": path, "files": strings.Join(e.files, ","), "matchBlocks": strconv.Itoa(len(e.p.blocks)),
		}),
	}}
	c := pol.Checks
	base := allCtx[:1]
	if c.RootLogin.Enabled {
		out = append(out, j.rootLogin(rootCtx)...)
	}
	if c.PasswordAuthentication.Enabled {
		out = append(out, j.passwordAuth(allCtx)...)
	}
	if c.EmptyPasswords.Enabled {
		out = append(out, j.perContext(allCtx, IDEmptyPasswords, c.EmptyPasswords, "permitemptypasswords",
			"Empty passwords are accepted", "Empty passwords are refused",
			func(v string) bool { return v == "yes" })...)
	}
	if c.X11Forwarding.Enabled {
		out = append(out, j.perContext(allCtx, IDX11Forwarding, c.X11Forwarding, "x11forwarding",
			"X11 forwarding is enabled", "X11 forwarding is disabled",
			func(v string) bool { return v == "yes" })...)
	}
	if c.MaxAuthTries.Enabled {
		max := pol.MaxAuthTries
		out = append(out, j.perContext(allCtx, IDMaxAuthTries, c.MaxAuthTries, "maxauthtries",
			fmt.Sprintf("MaxAuthTries is above %d", max), fmt.Sprintf("MaxAuthTries is at most %d", max),
			func(v string) bool { n, _ := strconv.Atoi(v); return n > max }, max)...)
	}
	if c.WeakCiphers.Enabled {
		out = append(out, j.weakAlgorithms(base[0], IDWeakCiphers, c.WeakCiphers, "ciphers", "Ciphers", pol.WeakCiphers))
	}
	if c.WeakMACs.Enabled {
		out = append(out, j.weakAlgorithms(base[0], IDWeakMACs, c.WeakMACs, "macs", "MACs", pol.WeakMACs))
	}
	if c.WeakKex.Enabled {
		out = append(out, j.weakAlgorithms(base[0], IDWeakKex, c.WeakKex, "kexalgorithms", "KexAlgorithms", pol.WeakKexAlgorithms))
	}
	if c.LoginGraceTime.Enabled {
		max := pol.MaxLoginGraceTime
		out = append(out, j.perContext(base, IDLoginGraceTime, c.LoginGraceTime, "logingracetime",
			fmt.Sprintf("LoginGraceTime is longer than %d seconds", max), fmt.Sprintf("LoginGraceTime is at most %d seconds", max),
			func(v string) bool { n, _ := strconv.Atoi(v); return n == 0 || n > max }, max)...)
	}
	if c.ClientAlive.Enabled {
		out = append(out, j.clientAlive(allCtx)...)
	}
	if c.AccessRestriction.Enabled {
		out = append(out, j.accessRestriction(base[0]))
	}
	return out
}

// configError reports a configuration sshd refuses or nodeguard cannot read.
func configError(path string, err error) finding.Finding {
	var refused *RefusedError
	if errors.As(err, &refused) {
		file, line := refused.Where()
		f := finding.ErrorFinding(Name, IDConfig, "sshd would refuse its configuration", err)
		msgs := make([]string, len(refused.Problems))
		for i, p := range refused.Problems {
			msgs[i] = p.Message
			// Some of sshd's messages name no file (include loops, Match
			// syntax): say where.
			if p.File != "" && !strings.Contains(p.Message, p.File) {
				if p.Line > 0 {
					msgs[i] += fmt.Sprintf(" (%s line %d)", p.File, p.Line)
				} else {
					msgs[i] += " (reading " + p.File + ")"
				}
			}
		}
		f.Message = fmt.Sprintf("sshd would refuse %s: %s", path, strings.Join(msgs, "; "))
		e := catalog.Get(IDConfig)
		f.Severity, f.Remediation = e.Severity, e.Remediation
		f.Evidence = finding.EvidenceOf(map[string]string{"file": file, "line": strconv.Itoa(line)})
		if file == "" {
			f.Evidence.Set("file", path)
		}
		for i, p := range refused.Problems {
			f.Evidence.Set("problem"+strconv.Itoa(i+1), p.Message)
		}
		return f
	}
	var re *ReadError
	file := path
	if errors.As(err, &re) {
		file = re.File
	}
	f := finding.ErrorFinding(Name, IDConfig, "sshd configuration could not be read",
		fmt.Errorf("reading sshd's configuration: %w", err))
	if errors.Is(err, fs.ErrNotExist) && file == path {
		f.Message = fmt.Sprintf("%s does not exist, but %s is installed: sshd cannot start without it", path, sshdBinary)
	}
	f.Evidence = finding.EvidenceOf(map[string]string{"file": file})
	return f
}

type judge struct {
	pol   *Policy
	files []string
}

// origin describes where a context's value of keyword comes from.
func origin(cfg *Config, keyword string) (string, map[string]string) {
	ev := map[string]string{}
	if file, line, ok := cfg.Source(keyword); ok {
		ev["file"], ev["line"] = file, strconv.Itoa(line)
		return fmt.Sprintf("set at %s line %d", file, line), ev
	}
	return "OpenSSH's default", ev
}

// newFinding takes references and remediation from the check's catalogue
// entry; args fill the remediation's numbers from the policy.
func newFinding(id string, chk Check, status finding.Status, title, msg string, args ...any) finding.Finding {
	e := catalog.Get(id)
	sev := chk.Severity
	if sev == "" {
		sev = e.Severity
	}
	f := finding.Finding{
		ID: id, Probe: Name, Status: status, Severity: sev, Title: title, Message: msg,
		Remediation: e.Remedy(args...) + remediationTail, References: e.Refs(), Evidence: finding.Evidence{},
	}
	if status == finding.Pass {
		f.Severity = finding.Info
		f.Remediation = ""
	}
	return f
}

// perContext fails once for each distinct offending value and origin among
// the contexts, naming the first context it shows up in.
func (j *judge) perContext(ctxs []Context, id string, chk Check, keyword, failTitle, passTitle string,
	bad func(string) bool, args ...any) []finding.Finding {
	var out []finding.Finding
	seen := map[string]bool{}
	for i := range ctxs {
		cx := &ctxs[i]
		v := cx.Config.Get(keyword)
		if !bad(v) {
			continue
		}
		where, ev := origin(cx.Config, keyword)
		key := v + "|" + where
		if seen[key] {
			continue
		}
		seen[key] = true
		shown := v
		if keyword == "permitrootlogin" && v == "without-password" {
			shown = "prohibit-password" // sshd -T prints the old spelling
		}
		f := newFinding(id, chk, finding.Fail, failTitle,
			fmt.Sprintf("%s %s for %s (%s)", keyword, shown, cx.Describe(), where), args...)
		for k, x := range ev {
			f.Evidence.Set(k, x)
		}
		f.Evidence.Set("keyword", keyword)
		f.Evidence.Set("value", v)
		f.Evidence.Set("context", cx.Describe())
		f.Evidence.Set("connection", cx.Conn.String())
		out = append(out, f)
	}
	if len(out) == 0 {
		f := newFinding(id, chk, finding.Pass, passTitle,
			fmt.Sprintf("%s is acceptable in all %d context(s) sshd's configuration defines", keyword, len(ctxs)))
		f.Evidence.Set("keyword", keyword)
		f.Evidence.Set("contexts", strconv.Itoa(len(ctxs)))
		out = append(out, f)
	}
	return out
}

func (j *judge) rootLogin(ctxs []Context) []finding.Finding {
	allowed := map[string]bool{}
	for _, v := range j.pol.RootLoginAllowed {
		allowed[rootLoginValues[string(v)]] = true
	}
	return j.perContext(ctxs, IDRootLogin, j.pol.Checks.RootLogin, "permitrootlogin",
		"Root can log in over SSH", "Root cannot log in over SSH",
		func(v string) bool { return !allowed[v] })
}

func (j *judge) passwordAuth(ctxs []Context) []finding.Finding {
	chk := j.pol.Checks.PasswordAuthentication
	var out []finding.Finding
	seen := map[string]bool{}
	for i := range ctxs {
		cx := &ctxs[i]
		cfg := cx.Config
		var what []string
		ev := map[string]string{}
		if cfg.Get("passwordauthentication") == "yes" {
			where, e := origin(cfg, "passwordauthentication")
			what = append(what, "PasswordAuthentication yes ("+where+")")
			for k, v := range e {
				ev[k] = v
			}
		}
		// Keyboard-interactive asks for passwords only through PAM on Linux.
		if cfg.Get("kbdinteractiveauthentication") == "yes" && cfg.Get("usepam") == "yes" {
			where, e := origin(cfg, "kbdinteractiveauthentication")
			what = append(what, "KbdInteractiveAuthentication yes with UsePAM yes ("+where+")")
			if _, ok := ev["file"]; !ok {
				for k, v := range e {
					ev[k] = v
				}
			}
		}
		if len(what) == 0 {
			continue
		}
		key := strings.Join(what, ";")
		if seen[key] {
			continue
		}
		seen[key] = true
		f := newFinding(IDPasswordAuth, chk, finding.Fail, "Password authentication is enabled",
			fmt.Sprintf("%s for %s", strings.Join(what, " and "), cx.Describe()))
		for k, v := range ev {
			f.Evidence.Set(k, v)
		}
		f.Evidence.Set("passwordauthentication", cfg.Get("passwordauthentication"))
		f.Evidence.Set("kbdinteractiveauthentication", cfg.Get("kbdinteractiveauthentication"))
		f.Evidence.Set("usepam", cfg.Get("usepam"))
		f.Evidence.Set("context", cx.Describe())
		f.Evidence.Set("connection", cx.Conn.String())
		out = append(out, f)
	}
	if len(out) == 0 {
		f := newFinding(IDPasswordAuth, chk, finding.Pass, "Password authentication is disabled",
			fmt.Sprintf("no context of %d accepts passwords", len(ctxs)))
		f.Evidence.Set("contexts", strconv.Itoa(len(ctxs)))
		out = append(out, f)
	}
	return out
}

func (j *judge) weakAlgorithms(cx Context, id string, chk Check, keyword, directive string, weak []string) finding.Finding {
	var found []string
	for _, a := range strings.Split(cx.Config.Get(keyword), ",") {
		if contains(weak, a) {
			found = append(found, a)
		}
	}
	where, ev := origin(cx.Config, keyword)
	if len(found) == 0 {
		f := newFinding(id, chk, finding.Pass, directive+" offers no weak algorithm",
			fmt.Sprintf("%s (%s) offers none of the weak algorithms in the policy", directive, where))
		f.Evidence.Set("keyword", keyword)
		return f
	}
	sort.Strings(found)
	f := newFinding(id, chk, finding.Fail, directive+" offers weak algorithms",
		fmt.Sprintf("%s (%s) offers %s", directive, where, strings.Join(found, ", ")), strings.Join(found, ","))
	for k, v := range ev {
		f.Evidence.Set(k, v)
	}
	f.Evidence.Set("keyword", keyword)
	f.Evidence.Set("weak", strings.Join(found, ","))
	return f
}

func (j *judge) clientAlive(ctxs []Context) []finding.Finding {
	maxI, maxC := j.pol.MaxClientAliveInterval, j.pol.MaxClientAliveCountMax
	chk := j.pol.Checks.ClientAlive
	var out []finding.Finding
	seen := map[string]bool{}
	for i := range ctxs {
		cx := &ctxs[i]
		iv, _ := strconv.Atoi(cx.Config.Get("clientaliveinterval"))
		cm, _ := strconv.Atoi(cx.Config.Get("clientalivecountmax"))
		var why []string
		switch {
		case iv == 0:
			why = append(why, "ClientAliveInterval 0 (idle sessions are never probed)")
		case iv > maxI:
			why = append(why, fmt.Sprintf("ClientAliveInterval %d (above %d)", iv, maxI))
		}
		switch {
		case cm == 0:
			why = append(why, "ClientAliveCountMax 0 (unresponsive clients are never disconnected)")
		case cm > maxC:
			why = append(why, fmt.Sprintf("ClientAliveCountMax %d (above %d)", cm, maxC))
		}
		if len(why) == 0 {
			continue
		}
		key := strings.Join(why, ";")
		if seen[key] {
			continue
		}
		seen[key] = true
		f := newFinding(IDClientAlive, chk, finding.Fail, "Idle SSH sessions are not limited",
			fmt.Sprintf("%s for %s", strings.Join(why, " and "), cx.Describe()), maxI, maxC)
		_, ev := origin(cx.Config, "clientaliveinterval")
		for k, v := range ev {
			f.Evidence.Set(k, v)
		}
		f.Evidence.Set("clientaliveinterval", strconv.Itoa(iv))
		f.Evidence.Set("clientalivecountmax", strconv.Itoa(cm))
		f.Evidence.Set("context", cx.Describe())
		f.Evidence.Set("connection", cx.Conn.String())
		out = append(out, f)
	}
	if len(out) == 0 {
		f := newFinding(IDClientAlive, chk, finding.Pass, "Idle SSH sessions are limited",
			fmt.Sprintf("ClientAliveInterval and ClientAliveCountMax are within limits in all %d context(s)", len(ctxs)))
		out = append(out, f)
	}
	return out
}

func (j *judge) accessRestriction(cx Context) finding.Finding {
	chk := j.pol.Checks.AccessRestriction
	users, groups := cx.Config.Values("allowusers"), cx.Config.Values("allowgroups")
	if len(users) == 0 && len(groups) == 0 {
		return newFinding(IDAccessRestriction, chk, finding.Fail, "SSH access is not limited to named users or groups",
			"neither AllowUsers nor AllowGroups is set: every account with a usable credential can log in over SSH")
	}
	f := newFinding(IDAccessRestriction, chk, finding.Pass, "SSH access is limited to named users or groups",
		fmt.Sprintf("AllowUsers %s; AllowGroups %s", orNone(users), orNone(groups)))
	f.Evidence.Set("allowusers", strings.Join(users, " "))
	f.Evidence.Set("allowgroups", strings.Join(groups, " "))
	return f
}

func orNone(v []string) string {
	if len(v) == 0 {
		return "(none)"
	}
	return strings.Join(v, " ")
}
