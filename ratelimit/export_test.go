package ratelimit

import (
	"log/slog"
	"time"
)

// SetLogger lets tests observe what the Limiter logs.
func SetLogger(l *Limiter, log *slog.Logger) { l.log = log }

// LocalAllow runs the in-process fallback limiter on a given clock.
func LocalAllow(l *Limiter, key string, p Policy, now time.Time) Decision {
	return l.local.allow(key, p, now)
}

// LoginDelay is the lockout after a key's nth failure under b.
func LoginDelay(b Backoff, n int) time.Duration { return b.rule().delay(n) }

// NewLocalLoginThrottleAt is NewLocalLoginThrottle on a given clock.
func NewLocalLoginThrottleAt(now func() time.Time) *LoginThrottle {
	s := newLocalLoginStore()
	s.now, s.lastSweep = now, now()
	return &LoginThrottle{policy: DefaultLoginPolicy(), store: s}
}

// SetClock makes AllowOrLocal's leases and remembered refusals run on now
// (Redis keeps its own clock).
func SetClock(l *Limiter, now func() time.Time) { l.clock = now }

// LeaseLife is how long a lease's requests may be spent.
const LeaseLife = leaseLife
