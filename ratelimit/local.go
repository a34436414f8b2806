package ratelimit

import (
	"sync"
	"time"
)

// sweepEvery bounds how often the local limiter drops full buckets; between
// sweeps memory grows only with the number of distinct keys seen.
const sweepEvery = time.Minute

// localLimiter is the same GCRA as gcra.lua, kept in process memory and on
// the local (monotonic) clock. It only serves while Redis is unreachable.
type localLimiter struct {
	mu        sync.Mutex
	tat       map[string]time.Time
	lastSweep time.Time
}

func newLocalLimiter() *localLimiter {
	return &localLimiter{tat: make(map[string]time.Time), lastSweep: time.Now()}
}

func (s *localLimiter) allow(key string, p Policy, now time.Time) Decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)

	interval, capacity := p.interval(), p.window()
	tat, ok := s.tat[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	newTAT := tat.Add(interval)
	slack := now.Sub(newTAT.Add(-capacity))
	if slack < 0 {
		return Decision{Limit: p.burst(), Reset: tat.Sub(now), RetryAfter: -slack}
	}
	s.tat[key] = newTAT
	return Decision{
		Allowed:   true,
		Limit:     p.burst(),
		Remaining: int(slack / interval),
		Reset:     newTAT.Sub(now),
	}
}

// sweep forgets buckets that are full again; a missing key means full.
func (s *localLimiter) sweep(now time.Time) {
	if now.Sub(s.lastSweep) < sweepEvery {
		return
	}
	s.lastSweep = now
	for key, tat := range s.tat {
		if !tat.After(now) {
			delete(s.tat, key)
		}
	}
}
