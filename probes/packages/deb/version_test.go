package deb

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
)

func genVersion(r *rand.Rand) string {
	part := func(alphabet string, n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	v := ""
	if r.IntN(5) == 0 {
		v = fmt.Sprintf("%d:", r.IntN(3))
	}
	v += fmt.Sprint(r.IntN(12))
	for i := r.IntN(4); i > 0; i-- {
		switch r.IntN(6) {
		case 0:
			v += "." + fmt.Sprint(r.IntN(100))
		case 1:
			v += "~" + part("abrc", 1+r.IntN(2)) + fmt.Sprint(r.IntN(3))
		case 2:
			v += "+" + part("abdfgu", 1+r.IntN(3)) + fmt.Sprint(r.IntN(20))
		case 3:
			v += part("abzAZ", 1)
		case 4:
			v += "." + fmt.Sprintf("%0*d", 1+r.IntN(3), r.IntN(10))
		default:
			v += "~"
		}
	}
	if r.IntN(4) != 0 {
		v += "-" + fmt.Sprint(r.IntN(5))
		for i := r.IntN(3); i > 0; i-- {
			v += []string{"+deb12u", "~bpo12+", ".", "ubuntu", "~", "+b", "build"}[r.IntN(7)] + fmt.Sprint(r.IntN(4))
		}
	}
	return v
}

// TestCompareMatchesDpkg holds version ordering to `dpkg --compare-versions`
// over generated pairs that exercise epochs, tildes, letters, leading zeros
// and revisions.
func TestCompareMatchesDpkg(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skip("dpkg is not installed: the differential test needs it")
	}
	n := 1000
	if testing.Short() {
		n = 200
	}
	r := rand.New(rand.NewPCG(42, 7))
	fixed := [][2]string{
		{"1.0~rc1", "1.0"}, {"1.0", "1.0+b1"}, {"1:0.1", "2.0"}, {"1.0-1", "1.0-1~bpo12+1"},
		{"2.36-9+deb12u4", "2.36-9+deb12u10"}, {"1.01", "1.1"}, {"1.0a", "1.0+"}, {"1.0~~", "1.0~"},
		{"7.88.1-10+deb12u5", "7.88.1-10+deb12u12"}, {"0:1.0", "1.0"}, {"1.0-0", "1.0"},
	}
	checked := 0
	for i := 0; i < n+len(fixed); i++ {
		var a, b string
		if i < len(fixed) {
			a, b = fixed[i][0], fixed[i][1]
		} else {
			a, b = genVersion(r), genVersion(r)
			if r.IntN(4) == 0 {
				b = a + []string{"~1", "+1", "a", ".0", "-1"}[r.IntN(5)]
			}
		}
		va, errA := ParseVersion(a)
		vb, errB := ParseVersion(b)
		if errA != nil || errB != nil {
			continue
		}
		checked++
		got := va.Compare(vb)
		want := 0
		for _, op := range []struct {
			op string
			v  int
		}{{"lt", -1}, {"gt", 1}} {
			if exec.Command(dpkg, "--compare-versions", a, op.op, b).Run() == nil {
				want = op.v
			}
		}
		if got != want {
			t.Errorf("Compare(%q, %q) = %d, dpkg says %d", a, b, got, want)
		}
	}
	if checked < n/2 {
		t.Fatalf("only %d of %d pairs were valid versions", checked, n)
	}
	t.Logf("%d pairs agree with dpkg", checked)
}

func TestParseVersionRejects(t *testing.T) {
	for _, v := range []string{"", "a1.0", "1.0 2", "1:", "x:1.0", "1.0-b@d", "1234567890123456789012", "1.0\x00", "é1"} {
		if _, err := ParseVersion(v); err == nil {
			t.Errorf("ParseVersion(%q): no error", v)
		}
	}
}
