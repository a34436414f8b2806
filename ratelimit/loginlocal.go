package ratelimit

import (
	"context"
	"sync"
	"time"
)

// maxLocalLoginKeys bounds the memory of the local login store. Keys are
// only created by attempts that every limit allowed, so reaching it takes a
// great many clients; beyond it, attempts on keys it does not hold yet are
// refused for a second (failing closed) until expired keys are swept.
const maxLocalLoginKeys = 1 << 20

// localLoginStore keeps the counts in process memory, on the local
// monotonic clock: the same rules as login.lua, for one instance.
type localLoginStore struct {
	mu        sync.Mutex
	keys      map[string]*localCount
	now       func() time.Time
	lastSweep time.Time
}

type localCount struct {
	failures  int
	expires   time.Time // the count is forgotten then
	lockUntil time.Time
}

func newLocalLoginStore() *localLoginStore {
	return &localLoginStore{keys: make(map[string]*localCount), now: time.Now, lastSweep: time.Now()}
}

func (s *localLoginStore) attempt(_ context.Context, keys []loginKey) (attemptResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)

	var wait time.Duration
	missing := 0
	for _, k := range keys {
		c := s.live(k.name, now)
		if c == nil {
			missing++
			continue
		}
		if k.rule.fixed && c.failures >= k.rule.free {
			c.lockUntil = c.expires // the budget is spent: refused until the window ends
		}
		if c.lockUntil.After(now) {
			wait = max(wait, c.lockUntil.Sub(now))
		}
	}
	if wait > 0 {
		return attemptResult{wait: wait}, nil
	}
	if len(s.keys)+missing > maxLocalLoginKeys {
		return attemptResult{wait: time.Second}, nil
	}
	res := attemptResult{allowed: true, counts: make([]int, len(keys))}
	for i, k := range keys {
		c := s.live(k.name, now)
		if c == nil {
			c = &localCount{expires: now.Add(k.rule.window)}
			s.keys[hashKey(k.name)] = c
		}
		c.failures++
		res.counts[i] = c.failures
		if k.rule.fixed {
			continue
		}
		delay := k.rule.delay(c.failures)
		c.lockUntil = now.Add(delay)
		c.expires = now.Add(max(k.rule.window, delay))
	}
	return res, nil
}

func (s *localLoginStore) success(_ context.Context, reset, refund []loginKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, k := range reset {
		delete(s.keys, hashKey(k.name))
	}
	for _, k := range refund {
		if c := s.live(k.name, now); c != nil && c.failures > 0 {
			c.failures--
		}
	}
	return nil
}

// live returns a key's count unless it was forgotten.
func (s *localLoginStore) live(name string, now time.Time) *localCount {
	c := s.keys[hashKey(name)]
	if c == nil || !c.expires.After(now) {
		return nil
	}
	return c
}

// sweep drops forgotten counts, at most once per sweepEvery unless the
// store is full.
func (s *localLoginStore) sweep(now time.Time) {
	if now.Sub(s.lastSweep) < sweepEvery && len(s.keys) < maxLocalLoginKeys {
		return
	}
	s.lastSweep = now
	for k, c := range s.keys {
		if !c.expires.After(now) {
			delete(s.keys, k)
		}
	}
}
