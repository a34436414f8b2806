package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/internal/pgtest"
	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var tenantCounter atomic.Int64

// newTenant provisions a tenant with a unique slug and returns its id and
// owner's id.
func newTenant(t testing.TB, db *postgres.DB, plan string) (uuid.UUID, uuid.UUID) {
	t.Helper()
	slug := fmt.Sprintf("t%d-%s", tenantCounter.Add(1), uuid.NewString()[:8])
	tn, owner, err := db.Platform().CreateTenant(context.Background(), tenantd.NewTenant{
		Slug: slug, Name: "Tenant " + slug, Plan: plan,
		OwnerEmail: "owner@" + slug + ".example", OwnerPasswordHash: "not-a-real-hash",
	}, tenantd.RequestInfo{ID: "test"})
	if err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	return tn.ID, owner.ID
}

func system(tenant uuid.UUID) tenantd.Scope {
	return tenantd.SystemScope(tenant, tenantd.RequestInfo{ID: "test"})
}

// seal chains the tenant's events written so far, as the sealer does every
// second in a server.
func seal(t testing.TB, db *postgres.DB, tenant uuid.UUID) int64 {
	t.Helper()
	n, err := db.SealAudit(context.Background(), tenant)
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	return n
}

// adminConn is a superuser connection, for inspecting and attacking.
func adminConn(t testing.TB, env *testenv.Env) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), env.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// createWorkspace inserts a workspace through the door as the tenant's system role.
func createWorkspace(t testing.TB, db *postgres.DB, tenant uuid.UUID, name string) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	err := db.Run(context.Background(), system(tenant), postgres.Statement{
		SQL:  `INSERT INTO workspaces (tenant_id, name) VALUES ($1, $2) RETURNING id`,
		Args: []any{tenant, name},
		Scan: func(r pgx.Rows) error {
			if !r.Next() {
				return fmt.Errorf("no row")
			}
			return r.Scan(&id)
		},
	})
	if err != nil {
		t.Fatalf("create workspace: %v", err)
	}
	return id
}

// workspaceNames are the names of a tenant's workspaces, read as the
// superuser: what is really stored.
func workspaceNames(t testing.TB, env *testenv.Env, tenant uuid.UUID) []string {
	t.Helper()
	rows, err := adminConn(t, env).Query(context.Background(), `SELECT name FROM workspaces WHERE tenant_id = $1 ORDER BY name`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}
