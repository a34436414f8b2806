package ratelimit_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantd/tenantd/ratelimit"
)

// deadRedis is a client whose server does not exist: a unix socket path in
// an empty directory fails at once and can never reach a real Redis.
func deadRedis(t *testing.T) *redis.Client {
	rdb := redis.NewClient(&redis.Options{
		Network:    "unix",
		Addr:       filepath.Join(t.TempDir(), "no-redis.sock"),
		MaxRetries: -1,
	})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func TestAllowReportsRedisOutage(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(deadRedis(t), "rl:")
	if _, err := l.Allow(context.Background(), "k", slow); err == nil {
		t.Fatal("Allow without Redis returned no error")
	}
}

// An outage of Redis must neither take the API down nor stop throttling.
func TestAllowOrLocalThrottlesWithoutRedis(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(deadRedis(t), "rl:")
	var logs bytes.Buffer
	ratelimit.SetLogger(l, slog.New(slog.NewTextHandler(&logs, nil)))

	p := ratelimit.Policy{Rate: 1, Period: time.Hour, Burst: 3}
	allowed := 0
	for range 10 {
		d, err := l.AllowOrLocal(context.Background(), "k", p)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			allowed++
		} else if d.RetryAfter <= 0 {
			t.Fatalf("denied without RetryAfter: %+v", d)
		}
	}
	if allowed != p.Burst {
		t.Fatalf("allowed %d of 10, want %d", allowed, p.Burst)
	}
	if d, _ := l.AllowOrLocal(context.Background(), "other", p); !d.Allowed {
		t.Fatalf("other key throttled by k: %+v", d)
	}
	if n := strings.Count(logs.String(), "Redis unavailable"); n != 1 {
		t.Fatalf("outage logged %d times, want once:\n%s", n, logs.String())
	}
}

func TestAllowOrLocalReturnsCallerCancellation(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(deadRedis(t), "rl:")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.AllowOrLocal(ctx, "k", slow); err == nil {
		t.Fatal("AllowOrLocal with a cancelled context returned no error")
	}
}

// The fallback is the same GCRA, on the local clock.
func TestLocalLimiterIsGCRA(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(deadRedis(t), "rl:")
	p := ratelimit.Policy{Rate: 20, Period: time.Second, Burst: 2} // 50ms per request
	t0 := time.Now()
	steps := []struct {
		at      time.Duration
		allowed bool
		remain  int
		retry   time.Duration
	}{
		{0, true, 1, 0},
		{0, true, 0, 0},
		{0, false, 0, 50 * time.Millisecond},
		{30 * time.Millisecond, false, 0, 20 * time.Millisecond},
		{50 * time.Millisecond, true, 0, 0},
		{200 * time.Millisecond, true, 1, 0},
	}
	for i, s := range steps {
		d := ratelimit.LocalAllow(l, "k", p, t0.Add(s.at))
		if d.Allowed != s.allowed || d.Remaining != s.remain || d.RetryAfter != s.retry {
			t.Fatalf("step %d at %v: %+v, want allowed=%v remaining=%d retry=%v", i, s.at, d, s.allowed, s.remain, s.retry)
		}
	}
}

// Without Redis at all, every decision is made in memory, and counted.
func TestNewLocalThrottlesInMemory(t *testing.T) {
	t.Parallel()
	l := ratelimit.NewLocal()
	if l.Shared() {
		t.Fatal("a Limiter without Redis says it is shared")
	}
	if _, err := l.Allow(context.Background(), "k", slow); err == nil {
		t.Fatal("Allow without Redis returned no error")
	}
	p := ratelimit.Policy{Rate: 1, Period: time.Hour, Burst: 2}
	var allowed int
	for range 5 {
		d, err := l.AllowOrLocal(context.Background(), "k", p)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			allowed++
		}
	}
	if allowed != 2 || l.LocalDecisions() != 5 {
		t.Fatalf("allowed %d of 5 (want 2), %d decisions counted (want 5)", allowed, l.LocalDecisions())
	}
}
