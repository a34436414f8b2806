package postgres

import (
	"context"
	"sync"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// fairShare caps how many pooled connections one tenant may hold at once,
// so one noisy tenant cannot take the whole shared pool and slow the others.
// A tenant over its share waits for one of its own connections,
// never for another tenant's.
type fairShare struct {
	max   int
	mu    sync.Mutex
	gates map[uuid.UUID]*gate
}

type gate struct {
	slots chan struct{}
	users int // goroutines holding or waiting for a slot
}

func newFairShare(max int) *fairShare {
	return &fairShare{max: max, gates: make(map[uuid.UUID]*gate)}
}

// acquire waits for a slot of tenant t; release gives it back.
func (f *fairShare) acquire(ctx context.Context, t uuid.UUID) (release func(), err error) {
	f.mu.Lock()
	g := f.gates[t]
	if g == nil {
		g = &gate{slots: make(chan struct{}, f.max)}
		f.gates[t] = g
	}
	g.users++
	f.mu.Unlock()
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots; f.leave(t, g) }, nil
	case <-ctx.Done():
		f.leave(t, g)
		return nil, &tenantd.Error{Code: tenantd.EUNAVAILABLE, Message: "Too many concurrent requests for this tenant.",
			RetryAfter: retryAfterUnavailable, Cause: ctx.Err()}
	}
}

func (f *fairShare) leave(t uuid.UUID, g *gate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g.users--; g.users == 0 {
		delete(f.gates, t) // idle tenants cost no memory
	}
}
