// Command gentable writes probes/release/zz_generated_table.go: the
// Kubernetes minor releases from v1.19 on, their first and newest patch
// releases with dates, and their end of support. It asks the Go module proxy
// through the go command (the one Kubernetes source this project's machines
// reach), so it needs the network; `make release-table` runs it.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const module = "k8s.io/kubernetes"

// firstMinor is the first release under the current support policy (about
// 12 months of patches plus a 2-month upgrade period, since v1.19).
const firstMinor = 19

// maxGap missing patch versions in a row end the search for newer ones.
const maxGap = 6

var releaseRE = regexp.MustCompile(`^v1\.(\d+)\.(\d+)$`)

func main() {
	out := flag.String("out", "zz_generated_table.go", "the Go file to write")
	overrides := flag.String("overrides", "eol-official.txt", "official end-of-support dates, maintained by hand")
	flag.Parse()
	log.SetFlags(0)
	official, err := readOverrides(*overrides)
	if err != nil {
		log.Fatal(err)
	}
	tmp, err := os.MkdirTemp("", "gentable")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	q := &proxy{dir: tmp, cache: map[string]*info{}}
	listed, err := q.versions()
	if err != nil {
		log.Fatal(err)
	}
	// The proxy's list may lack versions it serves; it gives the starting
	// points, and lookups one version at a time find the rest.
	known := map[int]int{} // minor -> highest listed patch
	maxMinor := 0
	for _, v := range listed {
		if m := releaseRE.FindStringSubmatch(v); m != nil {
			mi, _ := strconv.Atoi(m[1])
			p, _ := strconv.Atoi(m[2])
			known[mi] = max(known[mi], p)
			maxMinor = max(maxMinor, mi)
		}
	}
	// Minors released after the newest listed one.
	for q.exists(fmt.Sprintf("v1.%d.0", maxMinor+1)) || q.exists(fmt.Sprintf("v1.%d.1", maxMinor+1)) {
		maxMinor++
	}
	rows := make([]row, maxMinor-firstMinor+1)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	errs := make([]error, len(rows))
	for i := range rows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			rows[i], errs[i] = q.minor(firstMinor+i, known[firstMinor+i])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			log.Fatal(err)
		}
	}
	for i := range rows {
		r := &rows[i]
		if eol, ok := official[r.minor]; ok {
			r.eol, r.official = eol, true
			continue
		}
		r.eol = policyEOL(r.released)
	}
	src := render(time.Now().UTC().Format(time.DateOnly), rows)
	b, err := format.Source(src)
	if err != nil {
		log.Fatalf("%v\n%s", err, src)
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s: v1.%d to v1.%d, %d lookups", *out, firstMinor, maxMinor, q.lookups)
}

// policyEOL is the end of support the policy gives a minor released on
// released: the 28th of the 14th month after its release month, as the
// release team's schedules set it (v1.31: released 2024-08-13, planned end
// 2025-10-28).
func policyEOL(released string) string {
	t, err := time.Parse(time.DateOnly, released)
	if err != nil {
		log.Fatal(err)
	}
	return time.Date(t.Year(), t.Month()+14, 28, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
}

type row struct {
	minor                        int
	released, newest, newestDate string
	eol                          string
	official                     bool
}

// readOverrides reads lines "1.31 2025-11-11": minor and official end of
// support; # starts a comment.
func readOverrides(p string) (map[int]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[int]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fs := strings.Fields(line)
		if len(fs) == 0 {
			continue
		}
		mi, ok := strings.CutPrefix(fs[0], "1.")
		m, err := strconv.Atoi(mi)
		if !ok || err != nil || len(fs) != 2 {
			return nil, fmt.Errorf("%s:%d: want \"1.MINOR YYYY-MM-DD\"", p, n)
		}
		if _, err := time.Parse(time.DateOnly, fs[1]); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", p, n, err)
		}
		out[m] = fs[1]
	}
	return out, sc.Err()
}

type info struct {
	Version string
	Time    time.Time
	Error   *struct{ Err string }
}

// proxy asks the go command about k8s.io/kubernetes versions, each once.
type proxy struct {
	dir     string
	mu      sync.Mutex
	cache   map[string]*info
	lookups int
}

func (q *proxy) goCmd(args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	// Outside any module, so the repository's go.mod plays no part.
	cmd.Dir = q.dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off", "GO111MODULE=on")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

func (q *proxy) versions() ([]string, error) {
	out, err := q.goCmd("list", "-m", "-versions", "-json", module)
	if err != nil {
		return nil, err
	}
	var m struct{ Versions []string }
	return m.Versions, json.Unmarshal(out, &m)
}

// lookup is one version's publication time, or nil when the proxy does not
// serve it.
func (q *proxy) lookup(v string) (*info, error) {
	q.mu.Lock()
	in, ok := q.cache[v]
	q.mu.Unlock()
	if ok {
		return in, nil
	}
	out, err := q.goCmd("list", "-m", "-json", "-e", module+"@"+v)
	if err != nil {
		return nil, err
	}
	in = &info{}
	if err := json.Unmarshal(out, in); err != nil {
		return nil, err
	}
	if in.Error != nil || in.Time.IsZero() {
		in = nil
	}
	q.mu.Lock()
	q.cache[v], q.lookups = in, q.lookups+1
	q.mu.Unlock()
	return in, nil
}

func (q *proxy) exists(v string) bool {
	in, err := q.lookup(v)
	if err != nil {
		log.Fatal(err)
	}
	return in != nil
}

// minor finds a minor's x.y.0 and newest patch, stepping up from the
// highest listed patch. Patch numbers are consecutive, but the proxy may
// withhold some versions, so only maxGap missing ones in a row end the walk.
func (q *proxy) minor(m, listed int) (row, error) {
	v := func(p int) string { return fmt.Sprintf("v1.%d.%d", m, p) }
	first, err := q.lookup(v(0))
	if err != nil {
		return row{}, err
	}
	if first == nil {
		return row{}, fmt.Errorf("the module proxy does not serve %s", v(0))
	}
	newest := listed
	for p, miss := listed+1, 0; miss < maxGap; p++ {
		if q.exists(v(p)) {
			newest, miss = p, 0
		} else {
			miss++
		}
	}
	in, _ := q.lookup(v(newest))
	if in == nil {
		return row{}, fmt.Errorf("the module proxy lists %s but does not serve it", v(newest))
	}
	return row{minor: m, released: first.Time.UTC().Format(time.DateOnly),
		newest: v(newest), newestDate: in.Time.UTC().Format(time.DateOnly)}, nil
}

func render(date string, rows []row) []byte {
	sort.Slice(rows, func(i, j int) bool { return rows[i].minor < rows[j].minor })
	var b bytes.Buffer
	fmt.Fprintf(&b, `// Code generated by make release-table (probes/release/internal/gentable); DO NOT EDIT.

package release

// The Kubernetes minor releases from v1.%d on, as of %s, derived from
// what this project's machines reach: the Go module proxy lists versions of
// k8s.io/kubernetes and gives each version's publication time, the time of
// its release tag. Its list may be incomplete and it may withhold versions,
// so the generator also asks for each next patch version until %d in a row
// are missing. Released is the x.y.0's date; Newest is the newest patch
// release the proxy served, NewestDate its date.
//
// EndOfSupport is official (the Kubernetes release pages' end-of-life date,
// from eol-official.txt) or, where not, computed from the support policy:
// about 12 months of patches plus a 2-month upgrade period, ending on the
// 28th of the 14th month after the release month.

// TableDate is the day the table was generated: a version released later is
// not in it.
const TableDate = %q

var table = []Minor{
`, firstMinor, date, maxGap, date)
	for _, r := range rows {
		fmt.Fprintf(&b, "{Minor: %d, Released: %q, Newest: %q, NewestDate: %q, EndOfSupport: %q, Official: %v},\n",
			r.minor, r.released, r.newest, r.newestDate, r.eol, r.official)
	}
	b.WriteString("}\n")
	return b.Bytes()
}
