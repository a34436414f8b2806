package postgres_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/postgres"
)

// A sharded engine that copies policies onto its shards may drop the word
// RESTRICTIVE (Citus does): the policies must isolate tenants and enforce
// roles just the same when every one of them is permissive. The test does
// to a database what Citus does to its shards, then attacks it.
func TestPoliciesHoldWhenEveryPolicyIsPermissive(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db, ctx := env.DB, context.Background()
	admin := adminConn(t, env)
	rows, err := admin.Query(ctx, `
SELECT format('DROP POLICY %I ON %I.%I; CREATE POLICY %I ON %I.%I AS PERMISSIVE FOR %s TO %s%s%s',
              policyname, schemaname, tablename, policyname, schemaname, tablename, cmd,
              array_to_string(roles, ', '),
              CASE WHEN qual IS NOT NULL THEN ' USING (' || qual || ')' ELSE '' END,
              CASE WHEN with_check IS NOT NULL THEN ' WITH CHECK (' || with_check || ')' ELSE '' END)
  FROM pg_policies WHERE permissive = 'RESTRICTIVE'`)
	if err != nil {
		t.Fatal(err)
	}
	rewrites, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range rewrites {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}

	a, ownerA := newTenant(t, db, "pro")
	b, ownerB := newTenant(t, db, "pro")
	ownerOfA := orgScope(a, ownerA, tenantd.RoleOwner, nil)
	wsA := createWorkspace(t, db, a, "A's")
	wsB := createWorkspace(t, db, b, "B's")
	member, err := db.Users().Create(ctx, ownerOfA, "member@example.com", tenantd.RoleMember, "x")
	if err != nil {
		t.Fatal(err)
	}
	memberOfA := orgScope(a, member.ID, tenantd.RoleMember, nil)
	// Something in each tenant's idempotency keys and audit log.
	for _, s := range []tenantd.Scope{ownerOfA, orgScope(b, ownerB, tenantd.RoleOwner, nil)} {
		if _, err := db.Idempotency().Claim(ctx, s, [32]byte{1}, "POST", "/v1/workspaces", [32]byte{2}); err != nil {
			t.Fatal(err)
		}
	}

	count := func(s tenantd.Scope, sql string, args ...any) int64 {
		t.Helper()
		var n int64
		err := db.Run(ctx, s, postgres.Statement{SQL: sql, Args: args, Scan: func(r pgx.Rows) error {
			r.Next()
			return r.Scan(&n)
		}})
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	reads := []struct {
		who   string
		scope tenantd.Scope
		sql   string
		arg   uuid.UUID
	}{
		{"A's owner, B's workspaces", ownerOfA, `SELECT count(*) FROM workspaces WHERE tenant_id = $1`, b},
		{"A's owner, B's audit events", ownerOfA, `SELECT count(*) FROM audit_events WHERE tenant_id = $1`, b},
		{"A's owner, B's users", ownerOfA, `SELECT count(*) FROM users WHERE tenant_id = $1`, b},
		{"A's owner, B's idempotency keys", ownerOfA, `SELECT count(*) FROM idempotency_keys WHERE tenant_id = $1`, b},
		{"A's owner, B's settings", ownerOfA, `SELECT count(*) FROM tenant_settings WHERE tenant_id = $1`, b},
		{"A's member of no workspace, A's workspaces", memberOfA, `SELECT count(*) FROM workspaces WHERE tenant_id = $1`, a},
		{"A's member, A's audit events", memberOfA, `SELECT count(*) FROM audit_events WHERE tenant_id = $1`, a},
		{"A's member, the owner's idempotency keys", memberOfA, `SELECT count(*) FROM idempotency_keys WHERE tenant_id = $1`, a},
	}
	for _, r := range reads {
		if n := count(r.scope, r.sql, r.arg); n != 0 {
			t.Errorf("%s: %d rows visible", r.who, n)
		}
	}
	// Each write, refused or changing nothing.
	writes := []struct {
		who   string
		scope tenantd.Scope
		sql   string
		args  []any
	}{
		{"A's owner renames B's workspace", ownerOfA, `UPDATE workspaces SET name = 'taken' WHERE tenant_id = $1 AND id = $2`, []any{b, wsB}},
		{"A's owner demotes B's owner", ownerOfA, `UPDATE users SET role = 'member' WHERE tenant_id = $1 AND id = $2`, []any{b, ownerB}},
		{"A's member renames A's workspace", memberOfA, `UPDATE workspaces SET name = 'taken' WHERE tenant_id = $1 AND id = $2`, []any{a, wsA}},
		{"A's member promotes themself", memberOfA, `UPDATE users SET role = 'owner' WHERE tenant_id = $1 AND id = $2`, []any{a, member.ID}},
		{"A's member changes A's settings", memberOfA, `UPDATE tenant_settings SET company_name = 'taken' WHERE tenant_id = $1`, []any{a}},
		{"A's member creates a workspace", memberOfA, `INSERT INTO workspaces (tenant_id, name) VALUES ($1, 'mine')`, []any{a}},
		{"A's member creates a user", memberOfA, `INSERT INTO users (tenant_id, email, role) VALUES ($1, 'x@example.com', 'owner')`, []any{a}},
		{"A's member joins a workspace", memberOfA,
			`INSERT INTO workspace_members (tenant_id, workspace_id, user_id, role) VALUES ($1, $2, $3, 'manager')`, []any{a, wsA, member.ID}},
		{"A's owner creates a workspace in B", ownerOfA, `INSERT INTO workspaces (tenant_id, name) VALUES ($1, 'planted')`, []any{b}},
	}
	for _, w := range writes {
		var n int64
		err := db.Run(ctx, w.scope, postgres.Statement{SQL: `WITH w AS (` + w.sql + ` RETURNING 1) SELECT count(*) FROM w`,
			Args: w.args, Scan: func(r pgx.Rows) error {
				r.Next()
				return r.Scan(&n)
			}})
		if err == nil && n > 0 {
			t.Errorf("%s: done (%d rows)", w.who, n)
		}
	}
	if roles := userRoles(t, env, b); roles[ownerB] != tenantd.RoleOwner {
		t.Errorf("B's owner is now %q", roles[ownerB])
	}
	if roles := userRoles(t, env, a); roles[member.ID] != tenantd.RoleMember || len(roles) != 2 {
		t.Errorf("A's users are now %v", roles)
	}
	if names := workspaceNames(t, env, b); len(names) != 1 || names[0] != "B's" {
		t.Errorf("B's workspaces are now %v", names)
	}
}

// userRoles reads a tenant's users' roles as the superuser.
func userRoles(t testing.TB, env *testenv.Env, tenant uuid.UUID) map[uuid.UUID]string {
	t.Helper()
	rows, err := adminConn(t, env).Query(context.Background(), `SELECT id, role FROM users WHERE tenant_id = $1`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uuid.UUID]string{}
	for rows.Next() {
		var id uuid.UUID
		var role string
		if err := rows.Scan(&id, &role); err != nil {
			t.Fatal(err)
		}
		out[id] = role
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
