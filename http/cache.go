package http

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// principalCache remembers validated principals (roles, memberships, rate
// limit) for at most ttl, to save reloading them on every request. It is
// not what refuses a revoked session: every transaction re-checks that in
// its first round trip (the session guard of postgres/door.go), so a stale
// entry costs a reload, never a wrong answer. Bounded: when full it is
// emptied.
type principalCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	entries map[string]cachedPrincipal
	stats   cacheStats
}

// cacheStats counts what a bounded cache did, for the metrics
// (registerCacheMetrics).
type cacheStats struct {
	hits, misses, evictions atomic.Uint64
}

type cachedPrincipal struct {
	p       *tenantd.Principal
	expires time.Time
}

func newPrincipalCache(max int, ttl time.Duration) *principalCache {
	return &principalCache{ttl: ttl, max: max, entries: make(map[string]cachedPrincipal)}
}

func (c *principalCache) get(key string) (*tenantd.Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || time.Now().After(e.expires) {
		c.stats.misses.Add(1)
		return nil, false
	}
	c.stats.hits.Add(1)
	return e.p, true
}

func (c *principalCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *principalCache) put(key string, p *tenantd.Principal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		c.stats.evictions.Add(uint64(len(c.entries)))
		clear(c.entries)
	}
	c.entries[key] = cachedPrincipal{p: p, expires: time.Now().Add(c.ttl)}
}

func (c *principalCache) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
}

// dropTenant forgets every principal of a tenant (it was suspended).
func (c *principalCache) dropTenant(tenant uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.p.TenantID == tenant {
			delete(c.entries, k)
		}
	}
}
