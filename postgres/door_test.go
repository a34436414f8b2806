package postgres_test

import (
	"context"
	"testing"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/postgres"
)

// A transaction whose only work is an explicit audit event commits it: the
// context is sent with the events when no statement has sent it.
func TestInTenantWithOnlyEventsCommitsThem(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	a, _ := newTenant(t, env.DB, "pro")
	err := env.DB.InTenant(ctx, system(a), func(tx *postgres.Tx) error {
		tx.Audit(tenantd.Event{Action: "test.event_only", TargetType: "tenant", TargetID: a.String()})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := adminConn(t, env).QueryRow(ctx,
		`SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action = 'test.event_only'`, a).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
}
