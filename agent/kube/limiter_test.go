package kube

import (
	"fmt"
	"testing"
	"time"
)

func TestKeyedLimiter(t *testing.T) {
	l := newKeyedLimiter(5*time.Minute, 3, 100)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	allowed := func(key string, at time.Time, n int) int {
		got := 0
		for range n {
			if l.AllowAt(key, at) {
				got++
			}
		}
		return got
	}
	if n := allowed("shell-in-container/a", t0, 10); n != 3 {
		t.Fatalf("burst: %d of 10 allowed, want 3", n)
	}
	// Another container, and another rule in the same container, have buckets of their own.
	if n := allowed("shell-in-container/b", t0, 10); n != 3 {
		t.Errorf("second container: %d allowed, want 3", n)
	}
	if n := allowed("package-manager-in-container/a", t0, 10); n != 3 {
		t.Errorf("second rule: %d allowed, want 3", n)
	}
	if n := allowed("shell-in-container/a", t0.Add(4*time.Minute), 5); n != 0 {
		t.Errorf("before the interval: %d allowed, want 0", n)
	}
	if n := allowed("shell-in-container/a", t0.Add(5*time.Minute), 5); n != 1 {
		t.Errorf("one interval later: %d allowed, want 1", n)
	}
	if n := allowed("shell-in-container/a", t0.Add(10*time.Minute), 5); n != 1 {
		t.Errorf("two intervals later: %d allowed, want 1", n)
	}
	if n := allowed("shell-in-container/a", t0.Add(time.Hour), 5); n != 3 {
		t.Errorf("after a quiet hour: %d allowed, want the full burst", n)
	}
}

func TestKeyedLimiterBoundsItsKeys(t *testing.T) {
	l := newKeyedLimiter(5*time.Minute, 3, 10)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Container churn: idle buckets refill and are pruned.
	for i := range 1000 {
		l.AllowAt(fmt.Sprintf("shell-in-container/%d", i), t0.Add(time.Duration(i)*time.Hour))
	}
	if n := l.Len(); n > 10 {
		t.Errorf("%d buckets kept, want at most 10", n)
	}
	// A storm across more containers than the bound at one instant.
	for i := range 1000 {
		for range 5 {
			l.AllowAt(fmt.Sprintf("storm/%d", i), t0)
		}
	}
	if n := l.Len(); n > 10 {
		t.Errorf("%d buckets kept in a storm, want at most 10", n)
	}
	// A key under its limit is still limited while the map stays small.
	for range 3 {
		l.AllowAt("x", t0)
	}
	if l.AllowAt("x", t0) {
		t.Error("a drained bucket allowed another event")
	}
}
