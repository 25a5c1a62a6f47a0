// Package service is `nodeguard run`: rescan on an interval (or on demand),
// publish each report to the exporters, and serve /metrics, /healthz and
// /readyz until the context ends.
package service

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/agent/export/prommetrics"
	"github.com/nodeguard/nodeguard/agent/scan"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// ShutdownTimeout bounds how long a SIGTERM may take to end the agent.
const ShutdownTimeout = 4 * time.Second

// Daemon is the long-running agent.
type Daemon struct {
	Scanner  *scan.Scanner
	Interval time.Duration
	Log      zerolog.Logger
	Registry *prometheus.Registry
	Exporter *prommetrics.Exporter

	// Listener is where the HTTP endpoints are served; set by Listen.
	Listener net.Listener
	// TLS, when set before Run, makes every endpoint HTTPS.
	TLS *tls.Config
	// MetricsAuth, when set before Run, guards /metrics (not /healthz and
	// /readyz: the kubelet probes them without credentials).
	MetricsAuth func(http.Handler) http.Handler

	mu          sync.Mutex
	subscribers []func(*finding.Report)
	stopHooks   []func()
	readyChecks map[string]func() error
	trigger     chan struct{}
}

// New makes a daemon with its own metrics registry.
func New(sc *scan.Scanner, interval time.Duration, log zerolog.Logger) *Daemon {
	reg := prometheus.NewRegistry()
	exp := prommetrics.New()
	reg.MustRegister(exp,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: "nodeguard"}),
	)
	return &Daemon{
		Scanner: sc, Interval: interval, Log: log, Registry: reg, Exporter: exp,
		readyChecks: map[string]func() error{},
		trigger:     make(chan struct{}, 1),
	}
}

// OnStop adds a function run synchronously when shutdown begins, before the
// HTTP server closes: what must be said before the process exits (systemd's
// STOPPING=1) cannot be left to a goroutine racing the exit.
func (d *Daemon) OnStop(fn func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopHooks = append(d.stopHooks, fn)
}

// Subscribe adds an exporter that receives every report (node conditions,
// events). It is called from the scan loop, so it must not block for long.
func (d *Daemon) Subscribe(fn func(*finding.Report)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.subscribers = append(d.subscribers, fn)
}

// AddReadyCheck adds a named check to /readyz; a non-nil error marks the
// agent degraded and is shown to whoever asks.
func (d *Daemon) AddReadyCheck(name string, check func() error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.readyChecks[name] = check
}

// Trigger asks for a rescan as soon as possible (e.g. a new listener was seen).
// Requests made while a scan is pending coalesce.
func (d *Daemon) Trigger() {
	select {
	case d.trigger <- struct{}{}:
	default:
	}
}

// Listen binds the HTTP endpoint; separate from Serve so callers learn the
// port (":0" in tests) before scanning starts.
func (d *Daemon) Listen(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", addr, err)
	}
	d.Listener = l
	return nil
}

// Run scans and serves until ctx ends, then shuts the server down.
func (d *Daemon) Run(ctx context.Context) error {
	if d.Listener == nil {
		return errors.New("daemon: Listen was not called")
	}
	srv := &http.Server{
		Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second,
		// TLS handshake failures (a probe without TLS, a port scan) are
		// not the agent's errors.
		ErrorLog: log.New(debugWriter{d.Log}, "", 0),
	}
	l := d.Listener
	scheme := "http"
	if d.TLS != nil {
		l, scheme = tls.NewListener(l, d.TLS), "https"
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()
	d.Log.Info().Str("listen", d.Listener.Addr().String()).Str("scheme", scheme).
		Bool("metricsAuth", d.MetricsAuth != nil).Dur("interval", d.Interval).Msg("nodeguard agent started")

	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		d.loop(ctx)
	}()

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	d.mu.Lock()
	hooks := append([]func(){}, d.stopHooks...)
	d.mu.Unlock()
	for _, h := range hooks {
		h()
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if serr := srv.Shutdown(shutdownCtx); serr != nil && err == nil {
		err = serr
	}
	select {
	case <-loopDone:
	case <-shutdownCtx.Done():
		d.Log.Warn().Msg("scan still running at shutdown; leaving it")
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	d.Log.Info().Msg("nodeguard agent stopped")
	return err
}

func (d *Daemon) loop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.trigger:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		}
		d.ScanOnce(ctx)
		// The agent idles for minutes between scans: hand the scan's garbage
		// back to the OS now instead of keeping it resident until the
		// runtime's paced scavenger gets to it. It costs a collection and
		// re-faulting the next scan's heap: tens of ms of CPU per scan.
		debug.FreeOSMemory()
		t.Reset(d.Interval)
	}
}

// ScanOnce runs one scan and publishes it.
func (d *Daemon) ScanOnce(ctx context.Context) *finding.Report {
	start := time.Now()
	rep := d.Scanner.Scan(ctx)
	d.Exporter.Update(rep)
	d.mu.Lock()
	subs := append([]func(*finding.Report){}, d.subscribers...)
	d.mu.Unlock()
	for _, fn := range subs {
		fn(rep)
	}
	d.Log.Debug().Dur("took", time.Since(start)).Int("fail", rep.Summary.Fail).Int("error", rep.Summary.Error).Msg("scan done")
	return rep
}

// Handler serves /metrics, /healthz and /readyz.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	var metricsHandler http.Handler = promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{ErrorLog: zerologPrinter{d.Log}})
	if d.MetricsAuth != nil {
		metricsHandler = d.MetricsAuth(metricsHandler)
	}
	mux.Handle("/metrics", metricsHandler)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", d.readyz)
	return mux
}

func (d *Daemon) readyz(w http.ResponseWriter, _ *http.Request) {
	var problems []string
	if d.Exporter.Report() == nil {
		problems = append(problems, "scan: first scan not finished")
	}
	d.mu.Lock()
	names := make([]string, 0, len(d.readyChecks))
	for n := range d.readyChecks {
		names = append(names, n)
	}
	sort.Strings(names)
	checks := make([]func() error, len(names))
	for i, n := range names {
		checks[i] = d.readyChecks[n]
	}
	d.mu.Unlock()
	for i, c := range checks {
		if err := c(); err != nil {
			problems = append(problems, names[i]+": "+err.Error())
		}
	}
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, strings.Join(problems, "\n"))
		return
	}
	fmt.Fprintln(w, "ok")
}

type zerologPrinter struct{ log zerolog.Logger }

func (p zerologPrinter) Println(v ...any) { p.log.Error().Msg(fmt.Sprint(v...)) }

// debugWriter logs each line written to it at debug level.
type debugWriter struct{ log zerolog.Logger }

func (w debugWriter) Write(b []byte) (int, error) {
	w.log.Debug().Msg(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
