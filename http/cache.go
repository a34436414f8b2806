package http

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// principalCache remembers each session's validated principal (roles,
// memberships) and its tenant's configuration (limits, features, the rate
// limit), read together in one statement, so a request needs no round trip
// besides its own. It is not what refuses a stale one: every transaction
// checks the session's access version in its first round trip (the session
// guard of postgres/door.go), and the database bumps that version whenever
// anything cached here changes (a revocation, a demotion, a membership, the
// tenant's status or configuration). A stale entry costs one reload, never
// a wrong answer; ttl only bounds how long an idle session's entry is kept.
// Bounded: when full, a random entry makes room.
type principalCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	entries map[uuid.UUID]cachedPrincipal
	stats   cacheStats
	now     func() time.Time
}

// cacheStats counts what a bounded cache did, for the metrics
// (registerCacheMetrics).
type cacheStats struct {
	hits, misses, evictions atomic.Uint64
}

type cachedPrincipal struct {
	p       *tenantd.Principal
	cfg     *tenantd.Configuration
	expires time.Time
}

func newPrincipalCache(max int, ttl time.Duration) *principalCache {
	return &principalCache{ttl: ttl, max: max, entries: make(map[uuid.UUID]cachedPrincipal), now: time.Now}
}

func (c *principalCache) get(session uuid.UUID) (*tenantd.Principal, *tenantd.Configuration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[session]
	if !ok || c.now().After(e.expires) {
		c.stats.misses.Add(1)
		return nil, nil, false
	}
	c.stats.hits.Add(1)
	return e.p, e.cfg, true
}

func (c *principalCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *principalCache) put(p *tenantd.Principal, cfg *tenantd.Configuration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, present := c.entries[p.SessionID]; !present && len(c.entries) >= c.max {
		for k := range c.entries { // map order is randomised: a random victim
			delete(c.entries, k)
			c.stats.evictions.Add(1)
			break
		}
	}
	c.entries[p.SessionID] = cachedPrincipal{p: p, cfg: cfg, expires: c.now().Add(c.ttl)}
}

func (c *principalCache) drop(session uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, session)
}

// dropTenant forgets every principal of a tenant (it was suspended, or its
// configuration changed).
func (c *principalCache) dropTenant(tenant uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.p.TenantID == tenant {
			delete(c.entries, k)
		}
	}
}

// configTable keeps one copy of each distinct configuration the cached
// principals point to: the sessions of a tenant, and the tenants of a plan
// without overrides, share one. What it hands out is shared: read-only.
// Bounded: when full it is emptied (the principals keep their copies).
type configTable struct {
	mu      sync.Mutex
	max     int
	entries map[string]*tenantd.Configuration
	stats   cacheStats
}

func newConfigTable(max int) *configTable {
	return &configTable{max: max, entries: make(map[string]*tenantd.Configuration)}
}

// intern returns the table's copy of cfg, adding cfg when it has none.
func (t *configTable) intern(cfg *tenantd.Configuration) *tenantd.Configuration {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return cfg
	}
	key := string(raw)
	t.mu.Lock()
	defer t.mu.Unlock()
	if have, ok := t.entries[key]; ok {
		t.stats.hits.Add(1)
		return have
	}
	t.stats.misses.Add(1)
	if len(t.entries) >= t.max {
		t.stats.evictions.Add(uint64(len(t.entries)))
		clear(t.entries)
	}
	t.entries[key] = cfg
	return cfg
}

func (t *configTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}
