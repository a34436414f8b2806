package ratelimit_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantd/tenantd/internal/redistest"
	"github.com/tenantd/tenantd/ratelimit"
)

// slow refills one request per hour: within a test, the bucket only drains.
var slow = ratelimit.Policy{Rate: 1, Period: time.Hour, Burst: 10}

// Two servers sharing one Redis must together allow exactly Burst requests,
// however the requests interleave.
func TestAllowIsExactUnderConcurrencyAcrossInstances(t *testing.T) {
	t.Parallel()
	rdb1, prefix := redistest.New(t)
	rdb2, _ := redistest.New(t)
	servers := []*ratelimit.Limiter{ratelimit.New(rdb1, prefix), ratelimit.New(rdb2, prefix)}

	const requests = 200
	var allowed, denied atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range requests {
		wg.Go(func() {
			<-start
			d, err := servers[i%2].Allow(context.Background(), "tenant-a", slow)
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				allowed.Add(1)
			} else {
				denied.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if allowed.Load() != int64(slow.Burst) || denied.Load() != requests-int64(slow.Burst) {
		t.Fatalf("allowed %d, denied %d; want %d and %d", allowed.Load(), denied.Load(), slow.Burst, requests-slow.Burst)
	}
}

func TestAllowCountsDownRemaining(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	l := ratelimit.New(rdb, prefix)
	ctx := context.Background()
	for want := slow.Burst - 1; want >= 0; want-- {
		d := mustAllow(t, l, "k", slow)
		if !d.Allowed || d.Remaining != want || d.Limit != slow.Burst || d.RetryAfter != 0 {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", slow.Burst-want, d, want)
		}
	}
	d, err := l.Allow(ctx, "k", slow)
	if err != nil {
		t.Fatal(err)
	}
	// One request is earned per hour; the bucket is full after Burst of them.
	if d.Allowed || d.Remaining != 0 ||
		!within(d.RetryAfter, time.Hour-time.Minute, time.Hour) ||
		!within(d.Reset, 10*time.Hour-time.Minute, 10*time.Hour) {
		t.Fatalf("over the limit: %+v", d)
	}
}

// A denied request says how long to wait, and waiting that long is enough:
// GCRA guarantees it, whatever the machine's load.
func TestAllowRefillsAfterRetryAfter(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	l := ratelimit.New(rdb, prefix)
	fast := ratelimit.Policy{Rate: 20, Period: time.Second, Burst: 1}

	if d := mustAllow(t, l, "k", fast); !d.Allowed {
		t.Fatalf("first request denied: %+v", d)
	}
	d := mustAllow(t, l, "k", fast)
	for d.Allowed { // only a stall of a whole emission interval (50ms) between calls
		d = mustAllow(t, l, "k", fast)
	}
	if d.RetryAfter <= 0 || d.RetryAfter > 50*time.Millisecond {
		t.Fatalf("RetryAfter = %v, want in (0, 50ms]", d.RetryAfter)
	}
	time.Sleep(d.RetryAfter + time.Millisecond)
	if d := mustAllow(t, l, "k", fast); !d.Allowed {
		t.Fatalf("denied after waiting RetryAfter: %+v", d)
	}
}

func TestTenantsDoNotShareBuckets(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	l := ratelimit.New(rdb, prefix)
	p := ratelimit.Policy{Rate: 1, Period: time.Hour, Burst: 3}
	for range 10 {
		mustAllow(t, l, "tenant-a", p)
	}
	if d := mustAllow(t, l, "tenant-a", p); d.Allowed {
		t.Fatalf("tenant A not throttled: %+v", d)
	}
	d := mustAllow(t, l, "tenant-b", p)
	if !d.Allowed || d.Remaining != 2 {
		t.Fatalf("tenant B affected by tenant A: %+v", d)
	}
}

// Idle buckets must vanish, or Redis fills with every tenant ever seen.
func TestBucketKeyExpiresWhenFull(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	l := ratelimit.New(rdb, prefix)
	p := ratelimit.Policy{Rate: 10, Period: time.Minute, Burst: 5} // refills one per 6s
	mustAllow(t, l, "k", p)
	mustAllow(t, l, "k", p)
	ttl, err := rdb.PTTL(context.Background(), prefix+"k").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !within(ttl, 11*time.Second, 12*time.Second) {
		t.Fatalf("TTL = %v, want about 12s (two requests of 6s each)", ttl)
	}
}

// The script must still run after Redis lost its script cache (restart,
// failover, SCRIPT FLUSH).
func TestAllowSurvivesScriptCacheFlush(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	l := ratelimit.New(rdb, prefix)
	mustAllow(t, l, "k", slow)
	if err := rdb.ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if d := mustAllow(t, l, "k", slow); d.Remaining != slow.Burst-2 {
		t.Fatalf("after flush: %+v", d)
	}
}

func TestPolicyValidation(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	l := ratelimit.New(rdb, prefix)
	for _, p := range []ratelimit.Policy{
		{Rate: 0, Period: time.Second},
		{Rate: 1, Period: 0},
		{Rate: 1, Period: time.Second, Burst: -1},
		{Rate: 2_000_000, Period: time.Second},
		{Rate: 1, Period: 24 * time.Hour, Burst: 1000},
	} {
		if _, err := l.Allow(context.Background(), "k", p); !errors.Is(err, ratelimit.ErrInvalidPolicy) {
			t.Errorf("Allow(%+v) error = %v, want ErrInvalidPolicy", p, err)
		}
		if _, err := l.AllowOrLocal(context.Background(), "k", p); !errors.Is(err, ratelimit.ErrInvalidPolicy) {
			t.Errorf("AllowOrLocal(%+v) error = %v, want ErrInvalidPolicy", p, err)
		}
	}
	// Burst 0 means Rate.
	d := mustAllow(t, l, "k", ratelimit.Policy{Rate: 7, Period: time.Hour})
	if d.Limit != 7 || d.Remaining != 6 {
		t.Fatalf("Burst 0: %+v, want limit 7, remaining 6", d)
	}
}

func BenchmarkAllow(b *testing.B) {
	rdb, prefix := redistest.New(b)
	l := ratelimit.New(rdb, prefix)
	p := ratelimit.Policy{Rate: 1000, Period: time.Second, Burst: 100}
	var worker atomic.Int64
	b.SetParallelism(8) // a server has many requests in flight per core
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		key := "tenant-" + string(rune('a'+worker.Add(1)%26))
		for pb.Next() {
			if _, err := l.Allow(context.Background(), key, p); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func mustAllow(t *testing.T, l *ratelimit.Limiter, key string, p ratelimit.Policy) ratelimit.Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), key, p)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func within(d, lo, hi time.Duration) bool { return lo <= d && d <= hi }
