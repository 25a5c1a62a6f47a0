package kube

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
)

// nextSync is what a sync asks of the loop that runs it.
type nextSync struct {
	// After is when to sync again if nothing wakes the loop; zero means
	// only on a wake.
	After time.Duration
	// HoldWakes means wakes before After do not sync (a missing API is not
	// looked for again on every scan).
	HoldWakes bool
}

// syncLoop runs sync on every wake and when the time it asked for comes,
// until ctx ends. After a failure it retries on the backoff (exponential,
// with jitter, so a fleet does not retry in lockstep), and wakes meanwhile do
// not cut the wait short.
func syncLoop(ctx context.Context, clk clock.WithTicker, wake <-chan struct{}, backoff wait.Backoff, sync func(context.Context) (nextSync, error)) {
	bo := backoff
	timer := clk.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var holdUntil time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
			if !holdUntil.IsZero() && clk.Now().Before(holdUntil) {
				continue
			}
		case <-timer.C():
		}
		next, err := sync(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			d := bo.Step()
			holdUntil = clk.Now().Add(d)
			timer.Reset(d)
			continue
		}
		bo, holdUntil = backoff, time.Time{}
		if next.HoldWakes {
			holdUntil = clk.Now().Add(next.After)
		}
		if next.After > 0 {
			timer.Reset(next.After)
		} else {
			timer.Stop()
		}
	}
}
