package report

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nodeguard/nodeguard/probes/model/finding"
)

var awkward = []string{"", "plain", `quo"te`, `back\slash`, "tab\there", "nl\nx", "cr\rx", "\x00\x01\x1f\x7f",
	"ünïcødé", "bad \xff\xfe utf8", "trunc \xe2\x82", "\u2028\u2029", "<html>&amp;", "emoji 🛡️", "\u00a0"}

func randomString(r *rand.Rand) string {
	var sb strings.Builder
	for range r.IntN(4) {
		sb.WriteString(awkward[r.IntN(len(awkward))])
	}
	return sb.String()
}

func randomReport(r *rand.Rand) *finding.Report {
	rep := &finding.Report{Node: randomString(r), Role: "worker", RoleReason: randomString(r), HostRoot: randomString(r),
		ScannedAt: time.Unix(r.Int64N(2e9), r.Int64N(1e9)).UTC()}
	for range r.IntN(20) {
		f := finding.Finding{ID: randomString(r), Probe: randomString(r), Status: finding.Fail, Severity: finding.High,
			Title: randomString(r), Message: randomString(r), Remediation: randomString(r)}
		for range r.IntN(3) {
			f.References = append(f.References, randomString(r))
		}
		f.Evidence = finding.Evidence{}
		for range r.IntN(20) {
			f.Evidence.Set(randomString(r), randomString(r))
		}
		rep.Findings = append(rep.Findings, f)
	}
	rep.Probes = []finding.ProbeRun{{Name: randomString(r), DurationSeconds: r.Float64(), Errors: r.IntN(3)}}
	rep.Finalize()
	return rep
}

// TestJSONMatchesEncodingJSON holds the streaming writer to encoding/json:
// both documents must decode to the same value.
func TestJSONMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		rep := randomReport(r)
		var mine bytes.Buffer
		if err := WriteJSON(&mine, rep); err != nil {
			t.Fatal(err)
		}
		ref, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal(mine.Bytes(), &a); err != nil {
			t.Fatalf("report %d: invalid JSON: %v\n%s", i, err, mine.String())
		}
		if err := json.Unmarshal(ref, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("report %d differs\nmine: %s\nref:  %s", i, mine.String(), ref)
		}
		if !json.Valid(mine.Bytes()) || bytes.Count(mine.Bytes(), []byte("\n")) != 1 {
			t.Fatalf("report %d: not one valid line", i)
		}
	}
}

func BenchmarkWriteJSON10k(b *testing.B) {
	rep := &finding.Report{Node: "n", ScannedAt: time.Now()}
	for i := range 10000 {
		rep.Findings = append(rep.Findings, finding.Finding{ID: "ports.listener", Probe: "ports", Status: finding.Fail,
			Severity: finding.Low, Title: "Unexpected open port", Message: "TCP 127.0.0.1:40000 (listeners, pid 4242) is not in the port table of a worker node",
			Remediation: "Stop or rebind the service.", References: []string{"Kubernetes security guidance 5.4.1"},
			Evidence: finding.EvidenceOf(map[string]string{"protocol": "tcp", "address": "127.0.0.1", "port": "40000", "pid": "4242",
				"process": "listeners", "executable": "/tmp/listeners", "inode": string(rune('0' + i%10))})})
	}
	rep.Finalize()
	for b.Loop() {
		WriteJSON(io.Discard, rep)
	}
}

// TestJSONParallelMatchesSerial holds the chunked, multi-core encoding of a
// large report to the serial one, byte for byte, for chunk boundaries that
// fall anywhere, and checks that a failing writer stops it cleanly.
func TestJSONParallelMatchesSerial(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	rep := randomReport(r)
	for len(rep.Findings) < 3000 {
		rep.Findings = append(rep.Findings, randomReport(r).Findings...)
	}
	var serial bytes.Buffer
	if err := writeJSON(&serial, rep, 1, 1); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ chunk, workers int }{{1, 2}, {7, 2}, {100, 4}, {1000, 3}, {len(rep.Findings) / 2, 2}} {
		var par bytes.Buffer
		if err := writeJSON(&par, rep, c.chunk, c.workers); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(par.Bytes(), serial.Bytes()) {
			t.Fatalf("chunk %d, %d workers: output differs from the serial encoding", c.chunk, c.workers)
		}
	}
	for _, limit := range []int{0, 100, 50000} {
		w := &failingWriter{left: limit}
		if err := writeJSON(w, rep, 10, 2); err == nil {
			t.Fatalf("writer failing after %d bytes: no error", limit)
		}
	}
}

type failingWriter struct{ left int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		return 0, io.ErrShortWrite
	}
	w.left -= len(p)
	return len(p), nil
}
