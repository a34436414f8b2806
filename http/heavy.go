package http

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/ratelimit"
)

// Heavy requests: one whose cost grows with the tenant's data (an export
// of its audit log) would let a tenant within its request rate take the
// machine from the others, since the rate limit counts requests, not what
// they cost. So a heavy route (Route.Heavy)
//
//   - runs at most Config.HeavyPerTenant times at once per tenant on an
//     instance; one more is refused with 429 and Retry-After, before it
//     touches the database;
//   - draws on the tenant's rate limit by what it sends: one request's
//     worth for every rowsPerRequest rows, taken as the rows stream. When
//     the tenant's budget is spent the stream waits for it to refill, so a
//     tenant's exports go as fast as its plan's rate allows and no faster,
//     and a small export costs about what a list does.

// defaultHeavyPerTenant is Config.HeavyPerTenant's default.
const defaultHeavyPerTenant = 2

// rowsPerRequest is how many streamed rows cost as much as one request: a
// row of an export costs the server and the database a small fraction of
// what a whole point read does (BENCHMARKS.md).
const rowsPerRequest = 100

// heavyGate counts each tenant's heavy requests in progress.
type heavyGate struct {
	mu      sync.Mutex
	max     int
	running map[uuid.UUID]int
}

func newHeavyGate(max int) *heavyGate {
	return &heavyGate{max: max, running: map[uuid.UUID]int{}}
}

// enter admits one more heavy request of tenant, or answers the 429 to
// send instead; leave must be called once the admitted request ends.
func (g *heavyGate) enter(tenant uuid.UUID) (leave func(), err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running[tenant] >= g.max {
		return nil, &tenantd.Error{Code: tenantd.ERATELIMIT, RetryAfter: time.Second,
			Message: fmt.Sprintf("The tenant already runs %d exports at once, its most; retry when one ends.", g.max)}
	}
	g.running[tenant]++
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.running[tenant]--; g.running[tenant] == 0 {
			delete(g.running, tenant)
		}
	}, nil
}

// rowMeter charges a heavy request's rows to its tenant's rate limit.
type rowMeter struct {
	s     *Server
	c     *call
	rows  int
	pause func() error // called before waiting (e.g. to flush what is buffered)
}

// row counts one row sent and, every rowsPerRequest rows, takes one
// request from the tenant's budget, waiting for it while it is spent.
func (m *rowMeter) row(ctx context.Context) error {
	if m.rows++; m.rows%rowsPerRequest != 0 || m.s.limiter == nil {
		return nil
	}
	rl := m.c.cfg.RateLimit()
	if rl.Rate <= 0 {
		return nil
	}
	pol := ratelimit.Policy{Rate: rl.Rate, Period: rl.Period, Burst: rl.Burst}
	paused := false
	for {
		d, err := m.s.limiter.AllowOrLocal(ctx, "tenant:"+m.c.p.TenantID.String(), pol)
		if err != nil || d.Allowed {
			return nil // a limiter that cannot decide does not stop an export
		}
		if !paused && m.pause != nil {
			if err := m.pause(); err != nil {
				return err
			}
			paused = true
		}
		t := time.NewTimer(d.RetryAfter)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
