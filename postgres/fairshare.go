package postgres

import (
	"context"
	"sync"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// fairShare caps how many pooled connections one tenant may hold at once,
// so one noisy tenant cannot take the whole shared pool and slow the others
// (docs/architecture.md, the door). A tenant over its share waits for one of its own connections,
// never for another tenant's.
//
// Anonymous work (logins, refreshes, recording refused requests: anything a
// caller who has not proven who they are can make the server do) has a
// separate, small share: a few connections per tenant within a cap for all
// tenants together. A flood of logins against a tenant therefore waits on
// its own connections and never on the ones the tenant's authenticated
// requests use.
type fairShare struct {
	max     int           // a tenant's authenticated work
	anonMax int           // a tenant's anonymous work
	anon    chan struct{} // every tenant's anonymous work together
	mu      sync.Mutex
	gates   map[shareKey]*gate
}

type shareKey struct {
	tenant    uuid.UUID
	anonymous bool
}

type gate struct {
	slots chan struct{}
	users int // goroutines holding or waiting for a slot
}

// newFairShare gives each tenant max connections for its authenticated
// work, and anon connections to all anonymous work together, of which one
// tenant may hold half (at least one).
func newFairShare(tenant, anon int) *fairShare {
	return &fairShare{max: tenant, anonMax: max(1, anon/2), anon: make(chan struct{}, anon),
		gates: make(map[shareKey]*gate)}
}

// acquire waits for a slot of tenant t (of its anonymous share when
// anonymous); release gives it back.
func (f *fairShare) acquire(ctx context.Context, t uuid.UUID, anonymous bool) (release func(), err error) {
	k := shareKey{t, anonymous}
	f.mu.Lock()
	g := f.gates[k]
	if g == nil {
		size := f.max
		if anonymous {
			size = f.anonMax
		}
		g = &gate{slots: make(chan struct{}, size)}
		f.gates[k] = g
	}
	g.users++
	f.mu.Unlock()
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		f.leave(k, g)
		return nil, tooMany(ctx, "Too many concurrent requests for this tenant.")
	}
	if !anonymous {
		return func() { <-g.slots; f.leave(k, g) }, nil
	}
	// The tenant's slot first: a tenant waiting for the common cap holds
	// at most its own share of it.
	leaveAnon, err := f.acquireAnonymous(ctx)
	if err != nil {
		<-g.slots
		f.leave(k, g)
		return nil, err
	}
	return func() { leaveAnon(); <-g.slots; f.leave(k, g) }, nil
}

// acquireAnonymous waits for a slot of the common anonymous cap only: for
// anonymous work outside any tenant (a login's tenant lookup, a security
// event of no tenant).
func (f *fairShare) acquireAnonymous(ctx context.Context) (release func(), err error) {
	select {
	case f.anon <- struct{}{}:
		return func() { <-f.anon }, nil
	case <-ctx.Done():
		return nil, tooMany(ctx, "Too many concurrent anonymous requests.")
	}
}

func tooMany(ctx context.Context, msg string) error {
	return &tenantd.Error{Code: tenantd.EUNAVAILABLE, Message: msg, RetryAfter: retryAfterUnavailable, Cause: ctx.Err()}
}

func (f *fairShare) leave(k shareKey, g *gate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g.users--; g.users == 0 {
		delete(f.gates, k) // idle tenants cost no memory
	}
}
