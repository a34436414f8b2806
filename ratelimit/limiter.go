package ratelimit

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed gcra.lua
var gcraSource string

// gcraScript is sent once per Redis server and then run by its SHA
// (EVALSHA, falling back to EVAL when the server's script cache is empty).
var gcraScript = redis.NewScript(gcraSource)

// Limiter decides whether a request fits its key's bucket. One Limiter per
// process is enough; it is safe for concurrent use.
type Limiter struct {
	rdb    redis.UniversalClient
	prefix string

	leases     leaseBook
	local      *localLimiter
	localCount atomic.Uint64    // decisions made in process memory
	clock      func() time.Time // nil: time.Now
	log        *slog.Logger     // nil: slog.Default() at the time of logging
	degraded   atomic.Bool      // Redis failed and the outage was logged
	skipUntil  atomic.Int64     // unix ns; AllowOrLocal does not try Redis before
}

// New returns a Limiter storing its buckets in rdb under keys prefix+key
// (for example prefix "tenantd:rl:" and the tenant ID as key).
func New(rdb redis.UniversalClient, prefix string) *Limiter {
	return &Limiter{rdb: rdb, prefix: prefix, local: newLocalLimiter()}
}

// NewLocal returns a Limiter without Redis, for a deployment that has none:
// AllowOrLocal always decides in process memory, so each instance enforces
// the quotas on its own (a tenant may get its quota once per instance), and
// Allow always fails.
func NewLocal() *Limiter { return &Limiter{local: newLocalLimiter()} }

// Shared reports whether the Limiter's buckets are shared by every instance
// (Redis is configured; it may still be down).
func (l *Limiter) Shared() bool { return l.rdb != nil }

// LocalDecisions counts the decisions AllowOrLocal made in process memory:
// all of them without Redis, those during an outage with it.
func (l *Limiter) LocalDecisions() uint64 { return l.localCount.Load() }

// Allow takes one request from key's bucket under policy p, shared by every
// instance using the same Redis and prefix. It returns an error when p is
// invalid (ErrInvalidPolicy) or Redis cannot be asked; it never guesses.
//
// The policy is not stored: callers pass the tenant's current policy on every
// call, so a changed quota applies from the next request.
func (l *Limiter) Allow(ctx context.Context, key string, p Policy) (Decision, error) {
	if err := p.validate(); err != nil {
		return Decision{}, err
	}
	d, _, err := l.take(ctx, key, p, 1)
	return d, err
}

// take takes up to n requests from key's shared bucket in one call to
// Redis, and returns how many it got (0: refused) with the decision for
// the first of them.
func (l *Limiter) take(ctx context.Context, key string, p Policy, n int) (Decision, int, error) {
	if l.rdb == nil {
		return Decision{}, 0, errNoRedis
	}
	interval := p.interval().Microseconds()
	capacity := interval * int64(p.burst())
	res, err := gcraScript.Run(ctx, l.rdb, []string{l.prefix + key}, interval, capacity, n).Int64Slice()
	if err != nil {
		return Decision{}, 0, fmt.Errorf("ratelimit: %w", err)
	}
	if len(res) != 4 {
		return Decision{}, 0, fmt.Errorf("ratelimit: unexpected script reply %v", res)
	}
	taken := int(res[0])
	return Decision{
		Allowed:    taken > 0,
		Limit:      p.burst(),
		Remaining:  int(res[1]) + max(0, taken-1), // those taken beyond the first are still to be used
		Reset:      time.Duration(res[2]) * time.Microsecond,
		RetryAfter: time.Duration(res[3]) * time.Microsecond,
	}, taken, nil
}

var errNoRedis = errors.New("ratelimit: no Redis configured")

const (
	// redisBudget bounds how long AllowOrLocal waits for Redis: a hanging
	// server must not hold every API request for the client's read timeout.
	redisBudget = 500 * time.Millisecond
	// redisPause is how long AllowOrLocal stays local after Redis failed,
	// so an outage costs one failed call per pause, not one per request.
	redisPause = time.Second
)

// AllowOrLocal is Allow for the request path, at a fraction of its cost:
// it takes requests from the shared bucket in batches (leases, lease.go),
// spends them here without asking Redis, and remembers a refusal until its
// Retry-After, so most decisions cost no round trip while every instance
// still draws on one bucket. When Redis fails it decides with an in-process
// limiter instead (per instance, so a tenant may get its quota once per
// instance during the outage) and logs the outage once. It returns an
// error only for an invalid policy or when ctx itself is done.
func (l *Limiter) AllowOrLocal(ctx context.Context, key string, p Policy) (Decision, error) {
	if err := p.validate(); err != nil {
		return Decision{}, err
	}
	now := l.now()
	if l.rdb != nil && now.UnixNano() >= l.skipUntil.Load() {
		if d, ok := l.leases.spend(key, p, now); ok {
			return d, nil
		}
		rctx, cancel := context.WithTimeout(ctx, redisBudget)
		d, taken, err := l.take(rctx, key, p, p.leaseSize())
		cancel()
		if err == nil {
			l.redisUp()
			l.leases.keep(key, p, now, d, taken)
			return d, nil
		}
		if ctx.Err() != nil {
			return Decision{}, ctx.Err()
		}
		l.redisDown(err)
	}
	l.localCount.Add(1)
	return l.local.allow(key, p, now), nil
}

func (l *Limiter) redisDown(err error) {
	l.skipUntil.Store(l.now().Add(redisPause).UnixNano())
	if l.degraded.CompareAndSwap(false, true) {
		l.logger().Warn("ratelimit: Redis unavailable, throttling per instance until it is back", "err", err)
	}
}

func (l *Limiter) redisUp() {
	if l.degraded.CompareAndSwap(true, false) {
		l.logger().Info("ratelimit: Redis available again, throttling across instances")
	}
}

func (l *Limiter) now() time.Time {
	if l.clock != nil {
		return l.clock()
	}
	return time.Now()
}

func (l *Limiter) logger() *slog.Logger {
	if l.log != nil {
		return l.log
	}
	return slog.Default()
}
