package http

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// The principal and configuration caches hold at most their bound, and
// count what they answered, missed and dropped (tenantd_cache_* metrics).
func TestCachesAreBoundedAndCounted(t *testing.T) {
	principals := newPrincipalCache(2, time.Minute)
	for range 3 {
		principals.put(uuid.NewString(), &tenantd.Principal{})
	}
	principals.get("absent")
	hits, misses, evictions := statsOf(&principals.stats)
	if n := principals.len(); n > 2 || hits != 0 || misses != 1 || evictions != 2 {
		t.Errorf("principals: %d entries (bound 2), %d hits, %d misses, %d evicted; want ≤ 2, 0, 1, 2", n, hits, misses, evictions)
	}

	configs := newConfigCache(2, time.Minute, func(context.Context, uuid.UUID) (*tenantd.Configuration, error) {
		return &tenantd.Configuration{}, nil
	})
	first := uuid.New()
	for _, id := range []uuid.UUID{first, first, uuid.New(), uuid.New()} {
		if _, err := configs.get(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	hits, misses, evictions = statsOf(&configs.stats)
	if n := configs.len(); n > 2 || hits != 1 || misses != 3 || evictions != 2 {
		t.Errorf("configs: %d entries (bound 2), %d hits, %d misses, %d evicted; want ≤ 2, 1, 3, 2", n, hits, misses, evictions)
	}
}
