package kube

import "sync"

// The running agent's manager, so runtime detection (another run extension,
// started in any order) can reach RuntimeAnomalyDetected without a handle.
var active struct {
	sync.Mutex
	m    *Manager
	last *runtimeVerdict
}

type runtimeVerdict struct {
	active          bool
	reason, message string
}

// SetActive makes m the manager SetRuntimeAnomaly reports to (nil: none).
// A verdict reported before m was set is handed over now.
func SetActive(m *Manager) {
	active.Lock()
	active.m = m
	last := active.last
	active.Unlock()
	if m != nil && last != nil {
		m.SetRuntimeAnomaly(last.active, last.reason, last.message)
	}
}

// SetRuntimeAnomaly is Manager.SetRuntimeAnomaly on the running agent's
// manager; without one (--no-kube) it is remembered and otherwise a no-op.
func SetRuntimeAnomaly(isActive bool, reason, message string) {
	active.Lock()
	active.last = &runtimeVerdict{isActive, reason, message}
	m := active.m
	active.Unlock()
	if m != nil {
		m.SetRuntimeAnomaly(isActive, reason, message)
	}
}
