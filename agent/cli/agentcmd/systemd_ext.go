package agentcmd

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/rs/zerolog"

	"github.com/nodeguard/nodeguard/agent/service"
	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// systemd's sd_notify protocol for `nodeguard run` as a Type=notify service
// (manifests/systemd/nodeguard.service): READY=1 once the first scan is
// published, STATUS= after every scan, WATCHDOG=1 while the scan loop makes
// progress, STOPPING=1 on shutdown. Outside systemd (no NOTIFY_SOCKET) it
// does nothing.
// scanStaleAfter is how long the scan loop may publish nothing before the
// agent counts as stuck and stops feeding systemd's watchdog, which then
// restarts it. A scan takes seconds (docs/benchmarks.md), so two intervals
// plus a minute only trips on a loop that really hangs.
func scanStaleAfter(interval time.Duration) time.Duration {
	return 2*interval + time.Minute
}

// scanLoopHealthy reports whether a scan loop whose last report (or start)
// was at last still counts as making progress at now.
func scanLoopHealthy(now, last time.Time, interval time.Duration) bool {
	return now.Sub(last) <= scanStaleAfter(interval)
}

// scanStatus is the one-line STATUS= that `systemctl status` shows.
func scanStatus(rep *finding.Report) string {
	s := rep.Summary
	return fmt.Sprintf("last scan %s: %d fail, %d error, %d pass, %d skip",
		rep.ScannedAt.UTC().Format(time.RFC3339), s.Fail, s.Error, s.Pass, s.Skip)
}

func startSystemdNotify(ctx context.Context, d *service.Daemon, log zerolog.Logger) error {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return nil
	}
	notify := func(state string) {
		if _, err := daemon.SdNotify(false, state); err != nil {
			log.Warn().Err(err).Msg("sd_notify failed")
		}
	}
	watchdog, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		// systemd would kill an agent that never pings: say why loudly.
		return fmt.Errorf("systemd watchdog: %w", err)
	}

	var last atomic.Int64 // unix nanoseconds of the last report, or of the start
	last.Store(time.Now().UnixNano())
	var ready atomic.Bool
	d.Subscribe(func(rep *finding.Report) {
		last.Store(time.Now().UnixNano())
		status := "STATUS=" + scanStatus(rep)
		if ready.CompareAndSwap(false, true) {
			notify(daemon.SdNotifyReady + "\n" + status)
			log.Debug().Msg("sent READY=1 to systemd")
			return
		}
		notify(status)
	})
	notify("STATUS=first scan running")
	d.OnStop(func() { notify(daemon.SdNotifyStopping + "\nSTATUS=stopping") })

	go func() {
		var tick <-chan time.Time
		if watchdog > 0 {
			// Half the timeout, as sd_watchdog_enabled(3) advises.
			t := time.NewTicker(watchdog / 2)
			defer t.Stop()
			tick = t.C
			log.Info().Dur("watchdog", watchdog).Msg("feeding the systemd watchdog while scans make progress")
		}
		stalled := false
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick:
				healthy := scanLoopHealthy(now, time.Unix(0, last.Load()), d.Interval)
				switch {
				case healthy:
					notify(daemon.SdNotifyWatchdog)
				case !stalled:
					log.Error().Dur("since_last_scan", now.Sub(time.Unix(0, last.Load()))).
						Msg("scan loop stalled: no longer feeding the systemd watchdog, expect a restart")
					notify("STATUS=scan loop stalled")
				}
				stalled = !healthy
			}
		}
	}()
	return nil
}
