package postgres_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/postgres"
)

// A tenant that holds its whole share of the pool waits for its own
// connections; another tenant still gets one at once.
func TestOneTenantCannotTakeThePool(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	a, _ := newTenant(t, env.DB, "pro")
	b, _ := newTenant(t, env.DB, "pro")
	db, err := postgres.Open(ctx, env.AppURL, postgres.Options{MaxConns: 4, TenantShare: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	hold := make(chan struct{})
	var inside atomic.Int32
	entered := make(chan struct{}, 3)
	var done sync.WaitGroup
	for range 3 { // one more than A's share
		done.Add(1)
		go func() {
			defer done.Done()
			db.InTenant(ctx, system(a), func(tx *postgres.Tx) error {
				inside.Add(1)
				entered <- struct{}{}
				_, err := tx.Exec(ctx, `SELECT 1`)
				<-hold
				return err
			})
		}()
	}
	<-entered // two of the three are inside, whichever they are
	<-entered
	// A holds two connections and a third request of A waits; B is served.
	if err := db.Run(ctx, system(b), postgres.Statement{SQL: `SELECT 1`}); err != nil {
		t.Fatal(err)
	}
	if n := inside.Load(); n > 2 {
		t.Fatalf("tenant A holds %d connections, share is 2", n)
	}
	close(hold)
	done.Wait()
	if n := inside.Load(); n != 3 {
		t.Fatalf("A's waiting transaction never ran: %d", n)
	}
}

// Anonymous work (logins, refreshes, refused requests) of a tenant has its
// own small share: however much of it waits, the tenant's authenticated
// requests still get their whole share at once.
func TestAnonymousWorkCannotTakeTheTenantsShare(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	a, _ := newTenant(t, env.DB, "pro")
	b, _ := newTenant(t, env.DB, "pro")
	db, err := postgres.Open(ctx, env.AppURL, postgres.Options{MaxConns: 8, TenantShare: 4, AnonymousShare: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	hold := make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	defer release() // before db.Close, also when the test fails
	var anonInside atomic.Int32
	anonEntered := make(chan struct{}, 6)
	var done sync.WaitGroup
	for range 6 { // a login flood: far more anonymous work than its share
		done.Go(func() {
			db.InTenant(ctx, tenantd.AnonymousScope(a, tenantd.RequestInfo{ID: "flood"}), func(tx *postgres.Tx) error {
				anonInside.Add(1)
				anonEntered <- struct{}{}
				_, err := tx.Exec(ctx, `SELECT 1`)
				<-hold
				return err
			})
		})
	}
	<-anonEntered // one of A's anonymous transactions is inside (its share is 1)

	// A's authenticated work gets all four of its connections while the flood waits.
	authEntered := make(chan struct{}, 4)
	var auth sync.WaitGroup
	wait, cancel := context.WithTimeout(ctx, time.Minute) // a bound on a hang, not a measurement
	defer cancel()
	for range 4 {
		auth.Go(func() {
			err := db.InTenant(wait, system(a), func(tx *postgres.Tx) error {
				authEntered <- struct{}{}
				_, err := tx.Exec(wait, `SELECT 1`)
				<-hold
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	for range 4 {
		select {
		case <-authEntered:
		case <-wait.Done():
			t.Fatal("tenant A's authenticated work waited behind its anonymous work")
		}
	}
	// Another tenant's anonymous work still finds the common share.
	if err := db.Run(wait, tenantd.AnonymousScope(b, tenantd.RequestInfo{ID: "b"}), postgres.Statement{SQL: `SELECT 1`}); err != nil {
		t.Fatal(err)
	}
	if n := anonInside.Load(); n != 1 {
		t.Fatalf("tenant A holds %d anonymous connections, its share is 1", n)
	}
	release()
	done.Wait()
	auth.Wait()
	if n := anonInside.Load(); n != 6 {
		t.Fatalf("waiting anonymous work never ran: %d of 6", n)
	}
}

// The fair share is configurable as a fraction of the pool, three quarters
// unless configured.
func TestTenantShareOfThePool(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	for _, c := range []struct {
		o    postgres.Options
		want int
	}{
		{postgres.Options{MaxConns: 20}, 15},
		{postgres.Options{MaxConns: 20, TenantFraction: 0.5}, 10},
		{postgres.Options{MaxConns: 20, TenantFraction: 1}, 20},
		{postgres.Options{MaxConns: 3, TenantFraction: 0.1}, 1},
		{postgres.Options{MaxConns: 20, TenantFraction: 0.5, TenantShare: 7}, 7},
	} {
		db, err := postgres.Open(context.Background(), env.AppURL, c.o)
		if err != nil {
			t.Fatal(err)
		}
		if got := db.TenantShare(); got != c.want {
			t.Errorf("%+v: a tenant's share is %d connections, want %d", c.o, got, c.want)
		}
		db.Close()
	}
}
