package sshd

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"path"

	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/policy"
)

//go:embed policy.yaml
var defaultPolicy []byte

func init() {
	policy.Register(Name, defaultPolicy, func() any { return new(Policy) })
}

// Policy is the `sshd` section of the policy file.
type Policy struct {
	// ConfigPath is sshd's main configuration file on the host.
	ConfigPath string `json:"configPath"`
	// RootLoginAllowed are the PermitRootLogin values that pass.
	RootLoginAllowed       []RootLoginValue `json:"rootLoginAllowed"`
	MaxAuthTries           int              `json:"maxAuthTries"`
	MaxLoginGraceTime      int              `json:"maxLoginGraceTime"`
	MaxClientAliveInterval int              `json:"maxClientAliveInterval"`
	MaxClientAliveCountMax int              `json:"maxClientAliveCountMax"`
	WeakCiphers            []string         `json:"weakCiphers"`
	WeakMACs               []string         `json:"weakMACs"`
	WeakKexAlgorithms      []string         `json:"weakKexAlgorithms"`
	Checks                 Checks           `json:"checks"`
}

// Checks switches each check on or off and sets its severity.
type Checks struct {
	RootLogin              Check `json:"rootLogin"`
	PasswordAuthentication Check `json:"passwordAuthentication"`
	EmptyPasswords         Check `json:"emptyPasswords"`
	X11Forwarding          Check `json:"x11Forwarding"`
	MaxAuthTries           Check `json:"maxAuthTries"`
	WeakCiphers            Check `json:"weakCiphers"`
	WeakMACs               Check `json:"weakMACs"`
	WeakKex                Check `json:"weakKex"`
	LoginGraceTime         Check `json:"loginGraceTime"`
	ClientAlive            Check `json:"clientAlive"`
	AccessRestriction      Check `json:"accessRestriction"`
}

// Check is one check's switch and severity.
type Check struct {
	Enabled  bool             `json:"enabled"`
	Severity finding.Severity `json:"severity"`
}

// Validate checks the section after defaults and the user's file merged.
func (p *Policy) Validate() error {
	var errs []error
	if !path.IsAbs(p.ConfigPath) {
		errs = append(errs, fmt.Errorf("configPath %q: want an absolute path on the host", p.ConfigPath))
	}
	for _, v := range p.RootLoginAllowed {
		if _, ok := rootLoginValues[string(v)]; !ok {
			errs = append(errs, fmt.Errorf("rootLoginAllowed: %q: want no, prohibit-password, forced-commands-only or yes", v))
		}
	}
	for name, v := range map[string]int{"maxAuthTries": p.MaxAuthTries, "maxLoginGraceTime": p.MaxLoginGraceTime,
		"maxClientAliveInterval": p.MaxClientAliveInterval, "maxClientAliveCountMax": p.MaxClientAliveCountMax} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("%s: %d: want a positive number", name, v))
		}
	}
	for name, c := range p.Checks.byName() {
		errs = append(errs, c.Severity.Check("checks."+name+".severity"))
	}
	return errors.Join(errs...)
}

// RootLoginValue is a PermitRootLogin value; YAML's unquoted no and yes,
// which YAML reads as booleans, are taken as the words.
type RootLoginValue string

func (v *RootLoginValue) UnmarshalJSON(b []byte) error {
	var yn bool
	if err := json.Unmarshal(b, &yn); err == nil {
		*v = "no"
		if yn {
			*v = "yes"
		}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("rootLoginAllowed: want no, prohibit-password, forced-commands-only or yes, got %s", b)
	}
	*v = RootLoginValue(s)
	return nil
}

// rootLoginValues maps policy spellings to sshd -T's (which prints
// prohibit-password as without-password).
var rootLoginValues = map[string]string{
	"no": "no", "prohibit-password": "without-password", "without-password": "without-password",
	"forced-commands-only": "forced-commands-only", "yes": "yes",
}

func (c *Checks) byName() map[string]Check {
	return map[string]Check{
		"rootLogin": c.RootLogin, "passwordAuthentication": c.PasswordAuthentication,
		"emptyPasswords": c.EmptyPasswords, "x11Forwarding": c.X11Forwarding, "maxAuthTries": c.MaxAuthTries,
		"weakCiphers": c.WeakCiphers, "weakMACs": c.WeakMACs, "weakKex": c.WeakKex,
		"loginGraceTime": c.LoginGraceTime, "clientAlive": c.ClientAlive, "accessRestriction": c.AccessRestriction,
	}
}
