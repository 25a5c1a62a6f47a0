package conditions

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodeguard/nodeguard/agent/kube"
	"github.com/nodeguard/nodeguard/integration/kubeenv"
)

// The API server's own count of what the agents asked of it.
type apiLoad struct{ statusPatches, nodeGets, events float64 }

func readLoad(b *testing.B, env *kubeenv.Env) apiLoad {
	body := env.Metrics(b)
	pos := func(v float64) float64 { return max(v, 0) }
	return apiLoad{
		statusPatches: pos(metric(body, "apiserver_request_total", `resource="nodes"`, `subresource="status"`, `verb="PATCH"`)),
		nodeGets:      pos(metric(body, "apiserver_request_total", `resource="nodes"`, `subresource=""`, `verb="GET"`)),
		events:        pos(metric(body, "apiserver_request_total", `resource="events"`)),
	}
}

// BenchmarkIdleAgentAPILoad measures, from the API server's
// apiserver_request_total, what idle agents cost it: NODEGUARD_BENCH_AGENTS
// real `nodeguard run` processes (default 1) on unchanging hosts, scanning
// every 5s with a 10s heartbeat, over a 60s window after they settled.
//
//	go test -run '^$' -bench IdleAgentAPILoad -benchtime 1x ./integration/conditions/
//	NODEGUARD_BENCH_AGENTS=100 go test -run '^$' -bench IdleAgentAPILoad -benchtime 1x -timeout 30m ./integration/conditions/
func BenchmarkIdleAgentAPILoad(b *testing.B) {
	agents := 1
	if s := os.Getenv("NODEGUARD_BENCH_AGENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("NODEGUARD_BENCH_AGENTS=%q", s)
		}
		agents = n
	}
	const (
		hb       = 10 * time.Second
		interval = 5 * time.Second
		window   = 60 * time.Second
	)
	env := kubeenv.Start(b)
	bin := buildAgent(b)
	admin := env.Client(b, env.Admin)
	applyRBAC(b, admin)
	kc := env.Kubeconfig(b, agentUser)
	ctx := context.Background()
	h := newHost(b)
	h.listen(b, 10250, 4444) // one problem, so an Event and a True condition exist

	var procs []*agent
	for i := range agents {
		name := fmt.Sprintf("bench-node-%03d", i)
		createNode(b, admin, name, nil)
		procs = append(procs, startAgent(b, bin, "--host-root", h.dir, "--interval", interval.String(),
			"--kubeconfig", kc, "--node-name", name, "--heartbeat-period", hb.String()))
	}
	// Settled: every node has its conditions and the first heartbeat period
	// after the first write has begun.
	for i := range agents {
		name := fmt.Sprintf("bench-node-%03d", i)
		eventually(b, 5*time.Minute, name+" conditions", func() (bool, string) {
			n, err := admin.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			for _, c := range n.Status.Conditions {
				if c.Type == kube.UnexpectedOpenPorts && c.Status == corev1.ConditionTrue {
					return true, ""
				}
			}
			return false, describe(n.Status.Conditions)
		}, procs[i])
	}
	time.Sleep(hb)

	b.ResetTimer()
	start := readLoad(b, env)
	time.Sleep(window)
	end := readLoad(b, env)
	b.StopTimer()

	periods := window.Seconds() / hb.Seconds()
	patches := end.statusPatches - start.statusPatches
	perAgentPerHeartbeat := patches / float64(agents) / periods
	other := (end.nodeGets - start.nodeGets) + (end.events - start.events)
	b.ReportMetric(perAgentPerHeartbeat, "patches/agent/heartbeat")
	b.ReportMetric(other, "other-requests")
	// At the default 5 min heartbeat an idle agent's cost is its patches per
	// heartbeat times 12 an hour.
	perHour := perAgentPerHeartbeat * float64(time.Hour/kube.DefaultHeartbeatPeriod)
	b.ReportMetric(perHour, "requests/agent/hour")
	b.ReportMetric(perHour*100, "requests/100agents/hour")
	b.Logf("%d agents, %s window, %s heartbeat, %s scans: %.0f status patches (%.2f per agent per heartbeat), %.0f node GETs and event writes",
		agents, window, hb, interval, patches, perAgentPerHeartbeat, other)
	// Window edges may catch one extra heartbeat per agent; more means the
	// agent patches on scans that changed nothing.
	if limit := (periods + 1) * float64(agents); patches > limit {
		b.Errorf("%.0f status patches in %s by %d idle agents, want at most %.0f", patches, window, agents, limit)
	}
	for _, p := range procs {
		if p.exited() {
			b.Errorf("an agent exited:\n%s", p.log.String())
		}
	}
}

// BenchmarkIdleAgentRSS reports the resident memory of the whole agent as it
// runs on a node: `nodeguard run` auditing this host (--host-root /), node
// conditions and Events on a real API server, the pod informer and the eBPF
// runtime probes on, after two minutes of scans every 10 s, and the CPU time
// it used in those two minutes (GOGC from the environment applies).
//
//	go test -run '^$' -bench IdleAgentRSS -benchtime 1x ./integration/conditions/
func BenchmarkIdleAgentRSS(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("the agent audits this host and loads its eBPF probes as root")
	}
	env := kubeenv.Start(b)
	bin := buildAgent(b)
	admin := env.Client(b, env.Admin)
	applyRBAC(b, admin)
	kc := env.Kubeconfig(b, agentUser)
	const name = "rss-node"
	createNode(b, admin, name, nil)
	for b.Loop() {
		a := startAgentWithBPF(b, bin, "--interval", "10s", "--kubeconfig", kc, "--node-name", name)
		time.Sleep(2 * time.Minute)
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
		if err != nil {
			b.Fatal(err)
		}
		// utime and stime, fields 14 and 15 of /proc/PID/stat, in clock ticks (100 Hz).
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", a.cmd.Process.Pid)); err == nil {
			if _, after, ok := strings.Cut(string(stat), ") "); ok {
				f := strings.Fields(after)
				ut, _ := strconv.Atoi(f[11])
				st, _ := strconv.Atoi(f[12])
				b.ReportMetric(float64(ut+st)/100, "cpu-s")
			}
		}
		for _, key := range []string{"VmHWM", "VmRSS", "RssAnon", "RssFile"} {
			for line := range strings.Lines(string(status)) {
				if rest, ok := strings.CutPrefix(line, key+":"); ok {
					kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
					b.ReportMetric(float64(kb)/1024, key+"-MiB")
				}
			}
		}
		a.stop()
	}
}
