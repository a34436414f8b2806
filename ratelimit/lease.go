package ratelimit

import (
	"sync"
	"time"
)

// Leases: AllowOrLocal takes requests from a key's shared bucket in
// batches, one Redis call per batch, and spends them in this instance. A
// lease is small (leaseSize: a hundredth of the burst, at most
// maxLeaseSize) and short (leaseLife), which bounds what batching changes:
//
//   - never more than the policy allows across all instances: every
//     request spent was taken from the shared bucket by the exact GCRA
//     script; it is only spent up to leaseLife later than it was taken;
//   - fewer at most by what leases drop unused when they end: one lease
//     per instance, a hundredth of the burst each, so three instances stay
//     within 3 % of the limit (TestLeasedLimitHoldsAcrossInstances);
//   - a refusal is remembered until its Retry-After, so requests that
//     would be refused anyway (a tenant flooding at ten times its rate)
//     cost no Redis call either.
//
// With a burst under 200 a lease is one request: such a tenant's rate is
// too low for Redis calls to matter, and every decision stays exact.
const (
	leaseFraction = 100
	maxLeaseSize  = 1000
	leaseLife     = 100 * time.Millisecond
)

// leaseSize is how many requests AllowOrLocal asks for at once.
func (p Policy) leaseSize() int {
	return min(max(1, p.burst()/leaseFraction), maxLeaseSize)
}

// leaseBook holds this instance's leases and remembered refusals, by key.
type leaseBook struct {
	mu        sync.Mutex
	leases    map[string]*lease
	lastSweep time.Time
}

// lease is what this instance holds of one key's bucket.
type lease struct {
	policy Policy
	left   int       // requests taken from the bucket, not spent yet
	until  time.Time // when they are dropped
	// refusedUntil: Redis refused; refuse here until then without asking.
	refusedUntil time.Time
	// The bucket as Redis last told it, for the response headers.
	remaining int
	resetAt   time.Time
}

// spend decides from the key's lease when it can: a request left in a live
// lease is allowed, a remembered refusal refuses. ok false: ask Redis.
func (b *leaseBook) spend(key string, p Policy, now time.Time) (d Decision, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.leases[key]
	if l == nil || l.policy != p {
		return Decision{}, false
	}
	reset := max(0, l.resetAt.Sub(now))
	switch {
	case l.left > 0 && now.Before(l.until):
		l.left--
		return Decision{Allowed: true, Limit: p.burst(), Remaining: l.remaining + l.left, Reset: reset}, true
	case now.Before(l.refusedUntil):
		return Decision{Limit: p.burst(), Reset: reset, RetryAfter: l.refusedUntil.Sub(now)}, true
	}
	return Decision{}, false
}

// keep records what Redis answered: the requests taken beyond the one d
// allowed, or d's refusal until its Retry-After.
func (b *leaseBook) keep(key string, p Policy, now time.Time, d Decision, taken int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweep(now)
	if b.leases == nil {
		b.leases = make(map[string]*lease)
	}
	l := b.leases[key]
	if l == nil || l.policy != p || !now.Before(l.until) {
		l = &lease{policy: p}
		b.leases[key] = l
	}
	l.remaining, l.resetAt = d.Remaining-max(0, taken-1), now.Add(d.Reset)
	if !d.Allowed {
		// Requests a concurrent lease left here are still spent first.
		l.refusedUntil = now.Add(d.RetryAfter)
		return
	}
	// Concurrent requests may each have taken a lease: keep them all.
	l.left += taken - 1
	l.until = now.Add(leaseLife)
	l.refusedUntil = time.Time{}
}

// sweep forgets leases that ended, at most once per sweepEvery.
func (b *leaseBook) sweep(now time.Time) {
	if now.Sub(b.lastSweep) < sweepEvery {
		return
	}
	b.lastSweep = now
	for key, l := range b.leases {
		if !now.Before(l.until) && !now.Before(l.refusedUntil) {
			delete(b.leases, key)
		}
	}
}
