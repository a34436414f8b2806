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
