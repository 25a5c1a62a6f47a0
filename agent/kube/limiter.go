package kube

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// keyedLimiter is a token bucket per key: burst at once, then one per
// interval. Keys come and go with containers, so buckets that have refilled
// (and are thus indistinguishable from new ones) are pruned once there are
// more than maxKeys of them.
type keyedLimiter struct {
	every   time.Duration
	burst   int
	maxKeys int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newKeyedLimiter(every time.Duration, burst, maxKeys int) *keyedLimiter {
	return &keyedLimiter{every: every, burst: burst, maxKeys: maxKeys, buckets: map[string]*rate.Limiter{}}
}

// AllowAt takes a token from key's bucket at now, if there is one.
func (l *keyedLimiter) AllowAt(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.maxKeys {
			l.prune(now)
		}
		b = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.buckets[key] = b
	}
	return b.AllowN(now, 1)
}

// prune drops full buckets; if none is full (a storm across more than maxKeys
// containers), it drops them all rather than grow without bound: the cost is
// at most burst extra Events per key.
func (l *keyedLimiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= l.maxKeys {
		clear(l.buckets)
	}
}

// Len is how many buckets are kept.
func (l *keyedLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
