package sshd

import "strings"

// Algorithm tables of OpenSSH 9.2p1 as Debian 12 builds it (OpenSSL, no
// XMSS). allX lists every name the build supports, in its table order, which
// is the order explicit pattern lists expand in; defaultX is the server's
// default proposal (KEX_SERVER_* in myproposal.h). Debian 12's security
// updates added the sntrup761x25519-sha512 name to 9.2p1.
var (
	allCiphers = []string{
		"3des-cbc", "aes128-cbc", "aes192-cbc", "aes256-cbc",
		"aes128-ctr", "aes192-ctr", "aes256-ctr",
		"aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
		"chacha20-poly1305@openssh.com",
	}
	defaultCiphers = []string{
		"chacha20-poly1305@openssh.com",
		"aes128-ctr", "aes192-ctr", "aes256-ctr",
		"aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
	}

	allMACs = []string{
		"hmac-sha1", "hmac-sha1-96", "hmac-sha2-256", "hmac-sha2-512",
		"hmac-md5", "hmac-md5-96", "umac-64@openssh.com", "umac-128@openssh.com",
		"hmac-sha1-etm@openssh.com", "hmac-sha1-96-etm@openssh.com",
		"hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
		"hmac-md5-etm@openssh.com", "hmac-md5-96-etm@openssh.com",
		"umac-64-etm@openssh.com", "umac-128-etm@openssh.com",
	}
	defaultMACs = []string{
		"umac-64-etm@openssh.com", "umac-128-etm@openssh.com",
		"hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
		"hmac-sha1-etm@openssh.com",
		"umac-64@openssh.com", "umac-128@openssh.com",
		"hmac-sha2-256", "hmac-sha2-512", "hmac-sha1",
	}

	allKex = []string{
		"diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1",
		"diffie-hellman-group14-sha256", "diffie-hellman-group16-sha512",
		"diffie-hellman-group18-sha512", "diffie-hellman-group-exchange-sha1",
		"diffie-hellman-group-exchange-sha256",
		"ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
		"curve25519-sha256", "curve25519-sha256@libssh.org",
		"sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com",
	}
	defaultKex = []string{
		"sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com",
		"curve25519-sha256", "curve25519-sha256@libssh.org",
		"ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
		"diffie-hellman-group-exchange-sha256",
		"diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512",
		"diffie-hellman-group14-sha256",
	}

	// keyNames are the key and signature algorithm names sshkey accepts.
	keyNames = []string{
		"ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com",
		"sk-ssh-ed25519@openssh.com", "sk-ssh-ed25519-cert-v01@openssh.com",
		"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
		"ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384-cert-v01@openssh.com",
		"ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521-cert-v01@openssh.com",
		"sk-ecdsa-sha2-nistp256@openssh.com", "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
		"webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
		"ssh-dss", "ssh-dss-cert-v01@openssh.com",
		"ssh-rsa", "ssh-rsa-cert-v01@openssh.com",
		"rsa-sha2-256", "rsa-sha2-512",
		"rsa-sha2-256-cert-v01@openssh.com", "rsa-sha2-512-cert-v01@openssh.com",
	}

	gssKexNames = []string{
		"gss-gex-sha1-", "gss-group1-sha1-", "gss-group14-sha1-",
		"gss-group14-sha256-", "gss-group16-sha512-", "gss-nistp256-sha256-",
		"gss-curve25519-sha256-",
	}
)

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// namesValid checks a comma-separated list against known names the way
// ciphers_valid, mac_valid and kex_names_valid do: the check stops at the
// first empty element.
func namesValid(names string, known []string) bool {
	if names == "" {
		return false
	}
	for _, p := range strings.Split(names, ",") {
		if p == "" {
			break
		}
		if !contains(known, p) {
			return false
		}
	}
	return true
}

// keyNamesValid is sshkey_names_valid2 with wildcards allowed.
func keyNamesValid(names string, plainOnly bool) bool {
	if names == "" {
		return false
	}
	for _, p := range strings.Split(names, ",") {
		if p == "" {
			break
		}
		if contains(keyNames, p) {
			if plainOnly && strings.Contains(p, "-cert-v01@") {
				return false
			}
			continue
		}
		ok := false
		for _, k := range keyNames {
			if matchPatternList(k, p, false) != 0 {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func gssKexNamesValid(names string) bool {
	if names == "" {
		return false
	}
	for _, p := range strings.Split(names, ",") {
		if p == "" {
			break
		}
		if !contains(gssKexNames, p) {
			return false
		}
	}
	return true
}

// namesCat is kex_names_cat: a followed by the names of b not already in a.
func namesCat(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	have := strings.Split(a, ",")
	out := a
	for _, p := range strings.Split(b, ",") {
		if p == "" {
			break
		}
		if contains(have, p) {
			continue
		}
		have = append(have, p)
		out += "," + p
	}
	return out
}

// filterList is match_filter_allowlist/denylist.
func filterList(proposal []string, filter string, deny bool) string {
	var out []string
	for _, p := range proposal {
		r := matchPatternList(p, filter, false)
		if (deny && r != 1) || (!deny && r == 1) {
			out = append(out, p)
		}
	}
	return strings.Join(out, ",")
}

// assembleNames is kex_assemble_names: "+list" appends to the defaults,
// "-list" removes from them, "^list" puts names first, anything else
// replaces them; positive patterns expand against all supported names.
// ok is false where OpenSSH fails (a negated pattern, an empty result).
func assembleNames(list *string, def, all []string) bool {
	if list == nil {
		return true
	}
	if *list == "" {
		*list = strings.Join(def, ",")
		return true
	}
	l := *list
	defs := strings.Join(def, ",")
	switch l[0] {
	case '+':
		l = namesCat(defs, l[1:])
	case '-':
		*list = filterList(def, l[1:], true)
		return true
	case '^':
		l = namesCat(l[1:], defs)
	}
	ret := ""
	for _, cp := range strings.Split(l, ",") {
		if strings.HasPrefix(cp, "!") {
			return false
		}
		ret = namesCat(ret, filterList(all, cp, false))
	}
	if ret == "" {
		return false
	}
	*list = ret
	return true
}
