package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/postgres"
)

func keepAuditDays(t *testing.T, env *testenv.Env, tenant uuid.UUID, days int) {
	t.Helper()
	c := adminConn(t, env)
	exec(t, c, `SELECT set_config('app.context', $1, false)`, tenant.String())
	exec(t, c, `UPDATE tenants SET features = jsonb_build_object('data_retention', jsonb_build_object('audit_days', $2::int)) WHERE id = $1`, tenant, days)
}

// The purge is the only way to delete events, and a narrow one: the
// application role cannot write an origin or delete an event itself, only
// the server's own scope may call the purge, it purges only through the
// event it was told (by seq and hash), never one younger than the
// retention, and nothing when the origin could not be recorded outside the
// database first.
func TestPurgeAuditGuards(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	tenant, owner := newTenant(t, env.DB, "pro")
	recordEvents(t, env.DB, tenant, 10)
	seal(t, env.DB, tenant) // only sealed events are purged
	count, _, _ := chainState(t, env, tenant)
	record := func(context.Context, tenantd.ChainPoint) error { return nil }

	// Within the retention (a fresh tenant on a 365-day plan): nothing.
	if p, err := env.DB.PurgeAuditBefore(ctx, tenant, postgres.PurgeBefore{Seq: 5}, func(context.Context, tenantd.ChainPoint) error {
		t.Fatal("anchor called for a purge of nothing")
		return nil
	}); err != nil || p.Events != 0 {
		t.Fatalf("purge within the retention: %+v, %v", p, err)
	}
	keepAuditDays(t, env, tenant, 0)

	var hash5 []byte
	adminConn(t, env).QueryRow(ctx, `SELECT hash FROM audit_events WHERE tenant_id = $1 AND seq = 5`, tenant).Scan(&hash5)
	ownerScope := tenantd.Scope{TenantID: tenant, UserID: owner, Role: tenantd.RoleOwner,
		Actor: tenantd.Actor{Type: tenantd.ActorUser, ID: owner.String()}}
	for name, try := range map[string]struct {
		scope tenantd.Scope
		sql   string
		args  []any
	}{
		"write an origin":         {system(tenant), `INSERT INTO audit_origins (tenant_id, seq, hash) VALUES ($1, 5, $2)`, []any{tenant, hash5}},
		"delete an event":         {system(tenant), `DELETE FROM audit_events WHERE tenant_id = $1 AND seq = 1`, []any{tenant}},
		"purge as the owner":      {ownerScope, `SELECT app.purge_audit_through($1, 5, $2)`, []any{tenant, hash5}},
		"purge with a wrong hash": {system(tenant), `SELECT app.purge_audit_through($1, 5, sha256('x'))`, []any{tenant}},
		"purge another tenant":    {system(uuid.New()), `SELECT app.purge_audit_through($1, 5, $2)`, []any{tenant, hash5}},
	} {
		if err := env.DB.Run(ctx, try.scope, postgres.Statement{SQL: try.sql, Args: try.args}); err == nil {
			t.Errorf("%s: allowed", name)
		}
	}
	if n, _, _ := chainState(t, env, tenant); n < count {
		t.Fatalf("events went: %d, had %d", n, count)
	}

	// The origin cannot be recorded outside the database: nothing goes.
	failed := errors.New("checkpoint log unavailable")
	if _, err := env.DB.PurgeAuditBefore(ctx, tenant, postgres.PurgeBefore{Seq: 5}, func(context.Context, tenantd.ChainPoint) error {
		return failed
	}); !errors.Is(err, failed) {
		t.Fatalf("purge with a failing anchor: %v", err)
	}
	if n, _, _ := chainState(t, env, tenant); n < count {
		t.Fatalf("events went although the origin was not recorded: %d, had %d", n, count)
	}

	var anchored tenantd.ChainPoint
	p, err := env.DB.PurgeAuditBefore(ctx, tenant, postgres.PurgeBefore{Seq: 5}, func(_ context.Context, cp tenantd.ChainPoint) error {
		anchored = cp
		return nil
	})
	if err != nil || p.Events != 4 || p.Origin.Seq != 4 || anchored.Seq != 4 || string(anchored.Hash) != string(p.Origin.Hash) {
		t.Fatalf("purge before seq 5: %+v, anchored %+v, %v", p, anchored, err)
	}
	if r, err := env.DB.VerifyAuditChain(ctx, tenant); err != nil || !r.OK || r.Origin.Seq != 4 {
		t.Fatalf("verify after the purge: %+v, %v", r, err)
	}
	// Again through the same event: nothing more goes.
	if p, err := env.DB.PurgeAuditBefore(ctx, tenant, postgres.PurgeBefore{Seq: 5}, record); err != nil || p.Events != 0 {
		t.Fatalf("the same purge again: %+v, %v", p, err)
	}

	// An event younger than the retention is refused even when named.
	keepAuditDays(t, env, tenant, 30)
	var seq int64
	var hash []byte
	adminConn(t, env).QueryRow(ctx, `SELECT seq, hash FROM audit_events WHERE tenant_id = $1 AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1`, tenant).Scan(&seq, &hash)
	err = env.DB.Run(ctx, system(tenant), postgres.Statement{SQL: `SELECT app.purge_audit_through($1, $2, $3)`, Args: []any{tenant, seq, hash}})
	if err == nil || !strings.Contains(err.Error(), "younger than") {
		t.Fatalf("purge of an event within the retention: %v", err)
	}
	var origin int64
	adminConn(t, env).QueryRow(ctx, `SELECT seq FROM audit_origins WHERE tenant_id = $1`, tenant).Scan(&origin)
	if origin != 4 {
		t.Fatalf("the origin moved to %d", origin)
	}
}
