package ratelimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantd/tenantd/internal/redistest"
	"github.com/tenantd/tenantd/ratelimit"
)

// callCounter counts the commands a Redis client sends.
type callCounter struct{ n atomic.Int64 }

func (c *callCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *callCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c *callCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

var _ redis.Hook = (*callCounter)(nil)

// Three instances sharing one Redis, each deciding from leases: together
// they never allow more than the policy, and no fewer than 95 % of it,
// however the requests interleave; and most decisions cost no Redis call.
func TestLeasedLimitHoldsAcrossInstances(t *testing.T) {
	t.Parallel()
	// One request per hour: within the test the bucket only drains, so the
	// policy allows exactly its burst.
	p := ratelimit.Policy{Rate: 1, Period: time.Hour, Burst: 1000}
	var calls callCounter
	var instances []*ratelimit.Limiter
	var prefix string
	for range 3 {
		rdb, pfx := redistest.New(t)
		if prefix == "" {
			prefix = pfx
		}
		rdb.AddHook(&calls)
		instances = append(instances, ratelimit.New(rdb, prefix))
	}
	const requests = 3000
	var allowed atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range 30 {
		wg.Go(func() {
			<-start
			for i := range requests / 30 {
				d, err := instances[(g+i)%3].AllowOrLocal(context.Background(), "tenant-a", p)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	t.Logf("allowed %d of %d, %d Redis calls", allowed.Load(), requests, calls.n.Load())
	if n := allowed.Load(); n > int64(p.Burst) || n < int64(p.Burst)*95/100 {
		t.Errorf("three instances allowed %d requests, want within 5 %% below %d and never above", n, p.Burst)
	}
	// Leases of 10 requests, and refusals remembered: one Redis call per
	// lease (more when concurrent requests find the lease empty at once,
	// each taking one) and per instance's first refusals, not one per
	// decision.
	if c := calls.n.Load(); c > requests/5 {
		t.Errorf("%d Redis calls for %d decisions, want at most %d", c, requests, requests/5)
	}
	// What Redis holds agrees: the bucket is empty.
	d, err := instances[0].Allow(context.Background(), "tenant-a", p)
	if err != nil || d.Allowed {
		t.Errorf("the shared bucket after the test: %+v, %v; want it empty", d, err)
	}
}

// A lease is spent only while it lasts: past it, the instance asks Redis
// again and drops what it did not spend.
func TestLeaseEnds(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	var calls callCounter
	rdb.AddHook(&calls)
	l := ratelimit.New(rdb, prefix)
	now := time.Now()
	ratelimit.SetClock(l, func() time.Time { return now })
	p := ratelimit.Policy{Rate: 1, Period: time.Hour, Burst: 1000} // leases of 10
	allow := func() ratelimit.Decision {
		t.Helper()
		d, err := l.AllowOrLocal(context.Background(), "k", p)
		if err != nil || !d.Allowed {
			t.Fatalf("refused: %+v, %v", d, err)
		}
		return d
	}
	for i := range 10 {
		if d := allow(); d.Remaining != p.Burst-1-i {
			t.Errorf("request %d: remaining %d, want %d", i+1, d.Remaining, p.Burst-1-i)
		}
	}
	if c := calls.n.Load(); c > 2 { // EVALSHA, and EVAL when the script was not cached yet
		t.Fatalf("%d Redis calls for one lease", c)
	}
	allow() // the 11th: a second lease, of which 9 are left
	before := calls.n.Load()
	now = now.Add(ratelimit.LeaseLife)
	allow() // the lease ended: a third one
	if calls.n.Load() == before {
		t.Fatal("a request was spent from a lease that had ended")
	}
	// 30 taken from the bucket: 12 spent, 9 dropped, 9 left in the lease.
	d, err := l.Allow(context.Background(), "k", p)
	if err != nil || d.Remaining != p.Burst-31 {
		t.Fatalf("the shared bucket: %+v, %v; want %d remaining", d, err, p.Burst-31)
	}
}

// A refusal is remembered until its Retry-After: a flood of requests that
// would be refused costs Redis one call.
func TestRefusalIsRemembered(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	var calls callCounter
	rdb.AddHook(&calls)
	l := ratelimit.New(rdb, prefix)
	now := time.Now()
	ratelimit.SetClock(l, func() time.Time { return now })
	p := ratelimit.Policy{Rate: 1, Period: time.Hour, Burst: 5} // leases of 1: every allowed request asks Redis
	for range 5 {
		if d, err := l.AllowOrLocal(context.Background(), "k", p); err != nil || !d.Allowed {
			t.Fatalf("refused within the burst: %+v, %v", d, err)
		}
	}
	d, err := l.AllowOrLocal(context.Background(), "k", p)
	if err != nil || d.Allowed || d.RetryAfter <= 0 {
		t.Fatalf("over the burst: %+v, %v", d, err)
	}
	before := calls.n.Load()
	for range 100 {
		if d, err := l.AllowOrLocal(context.Background(), "k", p); err != nil || d.Allowed || d.RetryAfter <= 0 {
			t.Fatalf("a remembered refusal: %+v, %v", d, err)
		}
	}
	if c := calls.n.Load() - before; c != 0 {
		t.Errorf("%d Redis calls for 100 refusals, want 0", c)
	}
	now = now.Add(d.RetryAfter)
	l.AllowOrLocal(context.Background(), "k", p)
	if calls.n.Load() == before {
		t.Error("Redis was not asked again after Retry-After")
	}
}
