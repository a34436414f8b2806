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

	local      *localLimiter
	localCount atomic.Uint64 // decisions made in process memory
	log        *slog.Logger  // nil: slog.Default() at the time of logging
	degraded   atomic.Bool   // Redis failed and the outage was logged
	skipUntil  atomic.Int64  // unix ns; AllowOrLocal does not try Redis before
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
	if l.rdb == nil {
		return Decision{}, errNoRedis
	}
	interval := p.interval().Microseconds()
	capacity := interval * int64(p.burst())
	res, err := gcraScript.Run(ctx, l.rdb, []string{l.prefix + key}, interval, capacity).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: %w", err)
	}
	if len(res) != 4 {
		return Decision{}, fmt.Errorf("ratelimit: unexpected script reply %v", res)
	}
	return Decision{
		Allowed:    res[0] == 1,
		Limit:      p.burst(),
		Remaining:  int(res[1]),
		Reset:      time.Duration(res[2]) * time.Microsecond,
		RetryAfter: time.Duration(res[3]) * time.Microsecond,
	}, nil
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

// AllowOrLocal is Allow for the request path: when Redis fails it decides
// with an in-process limiter instead (per instance, so a tenant may get its
// quota once per instance during the outage) and logs the outage once. It
// returns an error only for an invalid policy or when ctx itself is done.
func (l *Limiter) AllowOrLocal(ctx context.Context, key string, p Policy) (Decision, error) {
	if err := p.validate(); err != nil {
		return Decision{}, err
	}
	if l.rdb != nil && time.Now().UnixNano() >= l.skipUntil.Load() {
		rctx, cancel := context.WithTimeout(ctx, redisBudget)
		d, err := l.Allow(rctx, key, p)
		cancel()
		if err == nil {
			l.redisUp()
			return d, nil
		}
		if ctx.Err() != nil {
			return Decision{}, ctx.Err()
		}
		l.redisDown(err)
	}
	l.localCount.Add(1)
	return l.local.allow(key, p, time.Now()), nil
}

func (l *Limiter) redisDown(err error) {
	l.skipUntil.Store(time.Now().Add(redisPause).UnixNano())
	if l.degraded.CompareAndSwap(false, true) {
		l.logger().Warn("ratelimit: Redis unavailable, throttling per instance until it is back", "err", err)
	}
}

func (l *Limiter) redisUp() {
	if l.degraded.CompareAndSwap(true, false) {
		l.logger().Info("ratelimit: Redis available again, throttling across instances")
	}
}

func (l *Limiter) logger() *slog.Logger {
	if l.log != nil {
		return l.log
	}
	return slog.Default()
}
