package sshd

import (
	"net/netip"
	"strconv"
	"strings"
)

// matchPattern is OpenSSH's match_pattern: '*' and '?' wildcards, nothing
// else special. It is iterative so that hostile patterns cannot blow the stack.
func matchPattern(s, pattern string) bool {
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(pattern) && pattern[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(pattern) && (pattern[pi] == '?' || pattern[pi] == s[si]):
			si++
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}

// matchPatternList is match_pattern_list: 1 on a positive match, -1 when a
// negated entry matches, 0 otherwise. Sub-patterns of 1023 bytes or more make
// the whole list fail, as in OpenSSH.
func matchPatternList(s, list string, dolower bool) int {
	got := 0
	for i := 0; i < len(list); {
		neg := false
		if list[i] == '!' {
			neg = true
			i++
		}
		j := i
		for j < len(list) && list[j] != ',' {
			j++
		}
		sub := list[i:j]
		if len(sub) >= 1023 {
			return 0
		}
		i = j
		if i < len(list) {
			i++
		}
		if dolower {
			sub = strings.ToLower(sub)
		}
		if matchPattern(s, sub) {
			if neg {
				return -1
			}
			got = 1
		}
	}
	return got
}

// parseAddr parses an address as getaddrinfo(AI_NUMERICHOST) does, which
// also accepts the short inet_aton forms ("10.1", "127.1").
func parseAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, true
	}
	return inetAton(s)
}

func inetAton(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		if p == "" {
			return netip.Addr{}, false
		}
		base := 10
		switch {
		case strings.HasPrefix(p, "0x") || strings.HasPrefix(p, "0X"):
			base, p = 16, p[2:]
			if p == "" {
				p = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		v, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	last := len(vals) - 1
	for i := 0; i < last; i++ {
		if vals[i] > 255 {
			return netip.Addr{}, false
		}
		n |= vals[i] << (24 - 8*uint(i))
	}
	if vals[last] >= 1<<(8*uint(4-last)) {
		return netip.Addr{}, false
	}
	n |= vals[last]
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// parseCIDR is addr_pton_cidr: 0 ok, -1 unparsable, -2 inconsistent mask.
func parseCIDR(s string) (netip.Prefix, int) {
	if len(s) >= 64 {
		return netip.Prefix{}, -1
	}
	addrPart, maskPart, hasMask := strings.Cut(s, "/")
	bits := -1
	if hasMask {
		if maskPart == "" {
			return netip.Prefix{}, -1
		}
		for _, c := range maskPart {
			if c < '0' || c > '9' {
				return netip.Prefix{}, -1
			}
		}
		v, err := strconv.Atoi(maskPart)
		if err != nil || v > 1<<31-1 {
			return netip.Prefix{}, -1
		}
		bits = v
	}
	a, ok := parseAddr(addrPart)
	if !ok {
		return netip.Prefix{}, -1
	}
	a = a.WithZone("")
	if bits < 0 {
		bits = a.BitLen()
	}
	if bits > a.BitLen() {
		return netip.Prefix{}, -2
	}
	pfx := netip.PrefixFrom(a, bits)
	if pfx.Masked().Addr() != a {
		return netip.Prefix{}, -2
	}
	return pfx, 0
}

// addrMatchList is addr_match_list: 1 match, 0 none, -1 negated match,
// -2 invalid entry. With addr "" it only validates the list.
func addrMatchList(addr string, list string) int {
	return addrMatchListCached(addr, list, nil)
}

// addrMatchListCached is addrMatchList with parsed entries kept in cache
// (which may be nil) across the many evaluations of one configuration.
func addrMatchListCached(addr string, list string, cache map[string]cidrEntry) int {
	var try netip.Addr
	check := addr != ""
	if check {
		a, ok := parseAddr(addr)
		if !ok {
			return 0
		}
		try = a.WithZone("")
	}
	ret := 0
	for _, cp := range strings.Split(list, ",") {
		neg := strings.HasPrefix(cp, "!")
		if neg {
			cp = cp[1:]
		}
		if cp == "" {
			return -2
		}
		var pfx netip.Prefix
		var r int
		if e, ok := cache[cp]; ok {
			pfx, r = e.pfx, e.r
		} else {
			pfx, r = parseCIDR(cp)
			if cache != nil {
				cache[cp] = cidrEntry{pfx, r}
			}
		}
		found := false
		switch r {
		case -2:
			return -2
		case 0:
			found = check && try.Is4() == pfx.Addr().Is4() && pfx.Contains(try)
		default:
			found = check && matchPattern(addr, cp)
		}
		if found {
			if neg {
				return -1
			}
			ret = 1
		}
	}
	return ret
}

// matchHostAndIP is match_host_and_ip, used by AllowUsers user@host entries.
func matchHostAndIP(host, ip, patterns string) int {
	mip := addrMatchList(ip, patterns)
	if mip == -2 {
		return -1
	}
	if host == "" || ip == "" || mip == -1 {
		return 0
	}
	mhost := matchPatternList(strings.ToLower(host), patterns, true)
	if mhost == -1 {
		return 0
	}
	if mhost == 0 && mip == 0 {
		return 0
	}
	return 1
}

// validUserPattern is match_user in test mode: an AllowUsers/DenyUsers entry
// with an @host part must have a valid address list there.
func validUserPattern(p string) bool {
	if i := strings.IndexByte(p, '@'); i >= 0 {
		return matchHostAndIP("", "", p[i+1:]) >= 0
	}
	return true
}
