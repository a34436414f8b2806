package ratelimit

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed login.lua
var loginFailureSource string

var loginFailureScript = redis.NewScript(loginFailureSource)

// LoginThrottle slows down password guessing: after FreeFailures failed
// logins on a key, each further failure locks the key for BaseDelay, doubling
// up to MaxDelay. A key's count is forgotten Window after its last failure.
//
// The login handler uses two keys per attempt: one for tenant+email (an
// attack on one account) and one for the client IP (one source trying many
// accounts). Lockouts are shared by all instances through Redis, and the
// remaining time comes from Redis key expiry, so instance clocks do not
// matter.
//
// Change the fields only before first use.
type LoginThrottle struct {
	FreeFailures int
	BaseDelay    time.Duration
	MaxDelay     time.Duration
	Window       time.Duration

	rdb    redis.UniversalClient
	prefix string
}

// NewLoginThrottle returns a LoginThrottle storing its state in rdb under
// prefix, with 5 free failures, a 1s first lockout doubling to 15 minutes,
// and a 15-minute memory.
func NewLoginThrottle(rdb redis.UniversalClient, prefix string) *LoginThrottle {
	return &LoginThrottle{
		FreeFailures: 5,
		BaseDelay:    time.Second,
		MaxDelay:     15 * time.Minute,
		Window:       15 * time.Minute,
		rdb:          rdb,
		prefix:       prefix,
	}
}

// Check returns how long the caller must wait before trying again: zero when
// no key is locked, otherwise the longest lockout among keys. Call it before
// verifying the password, and refuse the attempt (without counting it) while
// it is positive.
func (t *LoginThrottle) Check(ctx context.Context, keys ...string) (time.Duration, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	cmds := make([]*redis.DurationCmd, len(keys))
	_, err := t.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, key := range keys {
			_, lock := t.redisKeys(key)
			cmds[i] = pipe.PTTL(ctx, lock)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ratelimit: login check: %w", err)
	}
	var wait time.Duration
	for _, cmd := range cmds {
		wait = max(wait, cmd.Val()) // -1ns/-2ns (no lock) count as zero
	}
	return wait, nil
}

// Failure records a failed login on every key and returns the highest
// failure count among them.
func (t *LoginThrottle) Failure(ctx context.Context, keys ...string) (int, error) {
	highest := 0
	for _, key := range keys {
		count, lock := t.redisKeys(key)
		n, err := loginFailureScript.Run(ctx, t.rdb, []string{count, lock},
			t.FreeFailures, t.BaseDelay.Milliseconds(), t.MaxDelay.Milliseconds(), t.Window.Milliseconds()).Int()
		if err != nil {
			return highest, fmt.Errorf("ratelimit: login failure: %w", err)
		}
		highest = max(highest, n)
	}
	return highest, nil
}

// Success forgets the failures of keys. Callers pass only the tenant+email
// key: a successful login proves the account's owner, not that the client
// IP stopped guessing other accounts.
func (t *LoginThrottle) Success(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := t.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, key := range keys {
			count, lock := t.redisKeys(key)
			pipe.Del(ctx, count, lock)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ratelimit: login success: %w", err)
	}
	return nil
}

// redisKeys names a key's counter and lockout marker. The caller's key
// (an email address, an IP) is hashed so Redis holds none in clear text, and
// the hash is a hash tag so both keys live in one Redis Cluster slot, as the
// failure script requires.
func (t *LoginThrottle) redisKeys(key string) (count, lock string) {
	sum := sha256.Sum256([]byte(key))
	base := t.prefix + "{" + hex.EncodeToString(sum[:16]) + "}"
	return base + ":n", base + ":lock"
}
