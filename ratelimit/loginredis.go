package ratelimit

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed login.lua
var loginAttemptSource string

var loginAttemptScript = redis.NewScript(loginAttemptSource)

// loginRefundScript gives one counted attempt back, never below zero.
var loginRefundScript = redis.NewScript(`
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then
  redis.call('DECR', KEYS[1])
end
return 0`)

// redisLoginStore keeps the counts in Redis, shared by every instance. The
// remaining time of a lock comes from Redis key expiry, so instance clocks
// do not matter.
type redisLoginStore struct {
	rdb    redis.UniversalClient
	prefix string
}

// attempt runs in two round trips: the locks of every key are read first,
// so a refused attempt counts nowhere; then each key counts the attempt in
// a script of its own (keys of one attempt live in different Redis Cluster
// slots). When a key was locked in between, the others give it back.
func (s *redisLoginStore) attempt(ctx context.Context, keys []loginKey) (attemptResult, error) {
	res, err := s.try(ctx, keys)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Pipelined scripts run by SHA only: load it once and go again.
		if err = loginAttemptScript.Load(ctx, s.rdb).Err(); err == nil {
			res, err = s.try(ctx, keys)
		}
	}
	if err != nil {
		return attemptResult{}, fmt.Errorf("ratelimit: login attempt: %w", err)
	}
	return res, nil
}

func (s *redisLoginStore) try(ctx context.Context, keys []loginKey) (attemptResult, error) {
	locks := make([]*redis.DurationCmd, len(keys))
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, k := range keys {
			_, lock := s.names(k)
			locks[i] = pipe.PTTL(ctx, lock)
		}
		return nil
	})
	if err != nil {
		return attemptResult{}, err
	}
	res := attemptResult{locks: make([]time.Duration, len(keys))}
	for i, l := range locks {
		res.locks[i] = max(0, l.Val()) // -1ns/-2ns: no lock
		res.wait = max(res.wait, res.locks[i])
	}
	if res.wait > 0 {
		return res, nil
	}

	runs := make([]*redis.Cmd, len(keys))
	_, err = s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, k := range keys {
			count, lock := s.names(k)
			fixed := "0"
			if k.rule.fixed {
				fixed = "1"
			}
			runs[i] = loginAttemptScript.Run(ctx, pipe, []string{count, lock}, k.rule.free,
				k.rule.base.Milliseconds(), k.rule.maxDelay.Milliseconds(), k.rule.window.Milliseconds(), fixed)
		}
		return nil
	})
	if err != nil {
		return attemptResult{}, err
	}
	res = attemptResult{allowed: true, counts: make([]int, len(keys)), locks: make([]time.Duration, len(keys))}
	var counted []loginKey
	for i, run := range runs {
		v, err := run.Int64Slice()
		if err != nil || len(v) != 2 {
			return attemptResult{}, fmt.Errorf("reply %v: %w", v, err)
		}
		if v[0] == 1 {
			res.counts[i] = int(v[1])
			counted = append(counted, keys[i])
		} else {
			res.allowed = false
			res.locks[i] = time.Duration(v[1]) * time.Millisecond
			res.wait = max(res.wait, res.locks[i])
		}
	}
	if !res.allowed {
		res.counts = nil
		if err := s.success(ctx, nil, counted); err != nil {
			return attemptResult{}, err
		}
	}
	return res, nil
}

func (s *redisLoginStore) success(ctx context.Context, reset, refund []loginKey) error {
	if len(reset)+len(refund) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, k := range reset {
			count, lock := s.names(k)
			pipe.Del(ctx, count, lock)
		}
		for _, k := range refund {
			count, _ := s.names(k)
			loginRefundScript.Eval(ctx, pipe, []string{count})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ratelimit: login success: %w", err)
	}
	return nil
}

// names are a key's counter and lock marker. The key is hashed, and the
// hash is a hash tag so both live in one Redis Cluster slot, as the attempt
// script requires.
func (s *redisLoginStore) names(k loginKey) (count, lock string) {
	base := s.prefix + "{" + hashKey(k.name) + "}"
	return base + ":n", base + ":lock"
}
