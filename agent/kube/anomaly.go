package kube

import (
	"fmt"
	"sync"
	"time"

	"github.com/nodeguard/nodeguard/probes/model/finding"
)

// DefaultRuntimeAnomalyWindow is how long RuntimeAnomalyDetected stays True
// after the last high or critical runtime rule match.
const DefaultRuntimeAnomalyWindow = 15 * time.Minute

// AnomalyWindow turns a stream of runtime rule matches into the
// RuntimeAnomalyDetected verdict: True while a high or critical rule matched
// within Window, False otherwise. While True, the message (which names the
// latest match) is refreshed at most once per MessageEvery, so a burst of
// matches costs one patch, not one per match.
type AnomalyWindow struct {
	Window       time.Duration
	MessageEvery time.Duration
	// Set receives each verdict change (Manager.SetRuntimeAnomaly).
	Set func(active bool, reason, message string)

	mu        sync.Mutex
	started   bool
	active    bool
	lastMatch time.Time
	shownAt   time.Time
	pending   string
	count     int
}

// Start publishes the initial verdict: no anomaly.
func (w *AnomalyWindow) Start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.started = true
	w.Set(false, "", w.quietMessage())
}

func (w *AnomalyWindow) quietMessage() string {
	return fmt.Sprintf("no high or critical runtime rule matched in the last %s", w.Window)
}

// Match records one rule match.
func (w *AnomalyWindow) Match(at time.Time, rule string, sev finding.Severity, message string) {
	if sev.Rank() < finding.High.Rank() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lastMatch = at
	w.count++
	w.pending = fmt.Sprintf("%s rule %s matched: %s", sev, rule, message)
	if !w.active {
		w.active, w.shownAt = true, at
		w.Set(true, "", w.message())
	}
}

func (w *AnomalyWindow) message() string {
	msg := w.pending
	if w.count > 1 {
		msg = fmt.Sprintf("%d matches; latest: %s", w.count, msg)
	}
	return msg
}

// Tick ends the anomaly once the window has passed without a match, and
// refreshes the message of an ongoing one; call it periodically.
func (w *AnomalyWindow) Tick(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.active {
		return
	}
	if now.Sub(w.lastMatch) >= w.Window {
		w.active, w.count = false, 0
		w.Set(false, "", w.quietMessage())
		return
	}
	if now.Sub(w.shownAt) >= w.MessageEvery {
		w.shownAt = now
		w.Set(true, "", w.message())
	}
}
