package http

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// configTTL bounds how long an instance serves a tenant's configuration
// (its limits and features, the rate limit among them) from memory: a
// change an operator makes on any instance is in force on every instance
// within it. The instance that made the change forgets its copy at once.
const configTTL = time.Second

// configCache remembers each tenant's configuration for at most ttl, so
// the request path (the rate limit, beta routes) reads it without a round
// trip. Bounded: when full it is emptied. Concurrent misses of one tenant
// load it once.
type configCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	load    func(ctx context.Context, tenant uuid.UUID) (*tenantd.Configuration, error)
	entries map[uuid.UUID]*configEntry
	now     func() time.Time
	stats   cacheStats
}

type configEntry struct {
	ready   chan struct{} // closed once cfg or err is set
	cfg     *tenantd.Configuration
	err     error
	expires time.Time
}

func newConfigCache(max int, ttl time.Duration, load func(context.Context, uuid.UUID) (*tenantd.Configuration, error)) *configCache {
	return &configCache{ttl: ttl, max: max, load: load, entries: map[uuid.UUID]*configEntry{}, now: time.Now}
}

// get returns the tenant's configuration, loading it when this instance
// has none younger than ttl.
func (c *configCache) get(ctx context.Context, tenant uuid.UUID) (*tenantd.Configuration, error) {
	c.mu.Lock()
	e, ok := c.entries[tenant]
	if ok && e.expires.After(c.now()) {
		c.stats.hits.Add(1)
		c.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err == nil {
			return e.cfg, nil
		}
		c.mu.Lock()
		if c.entries[tenant] == e {
			delete(c.entries, tenant) // a failed load is not remembered
		}
		c.mu.Unlock()
		return nil, e.err
	}
	c.stats.misses.Add(1)
	if len(c.entries) >= c.max {
		c.stats.evictions.Add(uint64(len(c.entries)))
		clear(c.entries)
	}
	e = &configEntry{ready: make(chan struct{}), expires: c.now().Add(c.ttl)}
	c.entries[tenant] = e
	c.mu.Unlock()

	e.cfg, e.err = c.load(context.WithoutCancel(ctx), tenant)
	close(e.ready)
	if e.err != nil {
		c.drop(tenant)
	}
	return e.cfg, e.err
}

func (c *configCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// drop forgets a tenant's configuration: its next request loads it again.
func (c *configCache) drop(tenant uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, tenant)
}

// loadConfig reads a tenant's configuration from the database, as the
// server (the request's own transactions check the session).
func (s *Server) loadConfig(ctx context.Context, tenant uuid.UUID) (*tenantd.Configuration, error) {
	return s.settings.Configuration(ctx, tenantd.SystemScope(tenant, tenantd.RequestInfo{}))
}
