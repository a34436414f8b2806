package postgres_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

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
