package http

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// The principal cache and the configuration table hold at most their
// bound, and count what they answered, missed and dropped (tenantd_cache_*
// metrics).
func TestCachesAreBoundedAndCounted(t *testing.T) {
	principals := newPrincipalCache(2, time.Minute)
	var last *tenantd.Principal
	for range 3 {
		last = &tenantd.Principal{SessionID: uuid.New()}
		principals.put(last, &tenantd.Configuration{})
	}
	principals.get(uuid.New())
	if p, _, ok := principals.get(last.SessionID); !ok || p != last {
		t.Errorf("the entry just put is not there")
	}
	hits, misses, evictions := statsOf(&principals.stats)
	if n := principals.len(); n != 2 || hits != 1 || misses != 1 || evictions != 1 {
		t.Errorf("principals: %d entries (bound 2), %d hits, %d misses, %d evicted; want 2, 1, 1, 1", n, hits, misses, evictions)
	}
	now := time.Now()
	principals.now = func() time.Time { return now.Add(time.Minute + time.Second) }
	if _, _, ok := principals.get(last.SessionID); ok {
		t.Errorf("an entry older than the ttl was answered")
	}

	configs := newConfigTable(2)
	pro := func() *tenantd.Configuration { return &tenantd.Configuration{Plan: "pro"} }
	first := configs.intern(pro())
	if again := configs.intern(pro()); again != first {
		t.Errorf("two equal configurations were not shared")
	}
	if other := configs.intern(&tenantd.Configuration{Plan: "free"}); other == first {
		t.Errorf("two different configurations were shared")
	}
	configs.intern(&tenantd.Configuration{Plan: "enterprise"})
	hits, misses, evictions = statsOf(&configs.stats)
	if n := configs.len(); n > 2 || hits != 1 || misses != 3 || evictions != 2 {
		t.Errorf("configs: %d entries (bound 2), %d hits, %d misses, %d evicted; want ≤ 2, 1, 3, 2", n, hits, misses, evictions)
	}
}
