package osv

import (
	"strings"
)

// apk suffix order: pre-releases sort before the plain version, the others after.
var apkSuffix = map[string]int{"alpha": -4, "beta": -3, "pre": -2, "rc": -1, "cvs": 1, "svn": 2, "git": 3, "hg": 4, "p": 5}

type apkVer struct {
	nums     []string
	letter   byte
	suffixes [][2]string // name, number
	rel      string
}

func parseAPK(s string) apkVer {
	var v apkVer
	s, v.rel, _ = strings.Cut(s, "-r")
	main, sfx, _ := strings.Cut(s, "_")
	for i, part := range strings.Split(main, ".") {
		if i == len(strings.Split(main, "."))-1 && part != "" {
			if c := part[len(part)-1]; c >= 'a' && c <= 'z' {
				v.letter = c
				part = part[:len(part)-1]
			}
		}
		v.nums = append(v.nums, part)
	}
	if sfx != "" {
		for _, sf := range strings.Split(sfx, "_") {
			i := 0
			for i < len(sf) && (sf[i] < '0' || sf[i] > '9') {
				i++
			}
			v.suffixes = append(v.suffixes, [2]string{sf[:i], sf[i:]})
		}
	}
	return v
}

func cmpNum(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// CompareAPK orders Alpine package versions (apk's version rules: dotted
// numbers, one letter, _suffixes, -rN).
func CompareAPK(a, b string) int {
	va, vb := parseAPK(a), parseAPK(b)
	for i := 0; i < len(va.nums) || i < len(vb.nums); i++ {
		if i >= len(va.nums) {
			return -1
		}
		if i >= len(vb.nums) {
			return 1
		}
		if c := cmpNum(va.nums[i], vb.nums[i]); c != 0 {
			return c
		}
	}
	if va.letter != vb.letter {
		if va.letter < vb.letter {
			return -1
		}
		return 1
	}
	for i := 0; i < len(va.suffixes) || i < len(vb.suffixes); i++ {
		var sa, sb int
		var na, nb string
		if i < len(va.suffixes) {
			sa, na = apkSuffix[va.suffixes[i][0]], va.suffixes[i][1]
		}
		if i < len(vb.suffixes) {
			sb, nb = apkSuffix[vb.suffixes[i][0]], vb.suffixes[i][1]
		}
		if sa != sb {
			if sa < sb {
				return -1
			}
			return 1
		}
		if c := cmpNum(na, nb); c != 0 {
			return c
		}
	}
	return cmpNum(va.rel, vb.rel)
}
