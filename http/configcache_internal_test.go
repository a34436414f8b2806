package http

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// The configuration cache loads a tenant once for concurrent requests,
// serves it until ttl has passed or it is dropped, and never remembers a
// failed load.
func TestConfigCache(t *testing.T) {
	ctx := context.Background()
	var loads atomic.Int32
	fail := atomic.Bool{}
	release := make(chan struct{})
	c := newConfigCache(10, time.Second, func(ctx context.Context, tenant uuid.UUID) (*tenantd.Configuration, error) {
		loads.Add(1)
		<-release
		if fail.Load() {
			return nil, errors.New("database down")
		}
		return &tenantd.Configuration{Plan: "pro"}, nil
	})
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	tenant := uuid.New()

	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cfg, err := c.get(ctx, tenant); err != nil || cfg.Plan != "pro" {
				t.Errorf("get: %v %v", cfg, err)
			}
		}()
	}
	for loads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Fatalf("20 concurrent gets loaded %d times, want once", n)
	}

	now = now.Add(999 * time.Millisecond)
	c.get(ctx, tenant)
	if n := loads.Load(); n != 1 {
		t.Errorf("a get within ttl loaded again")
	}
	now = now.Add(time.Millisecond)
	c.get(ctx, tenant)
	if n := loads.Load(); n != 2 {
		t.Errorf("a get after ttl did not load again")
	}
	c.drop(tenant)
	c.get(ctx, tenant)
	if n := loads.Load(); n != 3 {
		t.Errorf("a get after drop did not load again")
	}

	other := uuid.New()
	fail.Store(true)
	if _, err := c.get(ctx, other); err == nil {
		t.Fatal("a failed load answered no error")
	}
	fail.Store(false)
	if cfg, err := c.get(ctx, other); err != nil || cfg.Plan != "pro" {
		t.Errorf("after a failed load: %v %v", cfg, err)
	}
	if n := loads.Load(); n != 5 {
		t.Errorf("%d loads, want 5: a failed load was remembered", n)
	}
}
