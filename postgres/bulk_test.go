package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/postgres"
)

// generated streams n rows made by row(i), i from 0, without holding them.
type generated struct {
	n, i int
	row  func(i int) []any
}

func generate(n int, row func(i int) []any) *generated { return &generated{n: n, i: -1, row: row} }

func (g *generated) Next() bool             { g.i++; return g.i < g.n }
func (g *generated) Values() ([]any, error) { return g.row(g.i), nil }
func (g *generated) Err() error             { return nil }

var workspaceColumns = []string{"tenant_id", "name", "description"}

// workspaceRows are n workspaces of tenant, named prefix-0…
func workspaceRows(tenant uuid.UUID, prefix string, n int) pgx.CopyFromSource {
	return generate(n, func(i int) []any { return []any{tenant, fmt.Sprintf("%s-%03d", prefix, i), "imported"} })
}

func copyIn(ctx context.Context, db *postgres.DB, s tenantd.Scope, src pgx.CopyFromSource) (int64, error) {
	var n int64
	err := db.InTenant(ctx, s, func(tx *postgres.Tx) (err error) {
		n, err = tx.CopyIn(ctx, "workspaces", workspaceColumns, src)
		return err
	})
	return n, err
}

// adminInt runs a query returning one integer as the superuser.
func adminInt(t *testing.T, env *testenv.Env, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := adminConn(t, env).QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Why CopyIn exists: PostgreSQL refuses COPY FROM into a table with
// row-level security.
func TestCopyFromIsRefusedUnderRLS(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	a, _ := newTenant(t, env.DB, "pro")
	conn, err := pgx.Connect(ctx, env.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"workspaces"}, workspaceColumns, workspaceRows(a, "plain", 1))
	if err == nil || !strings.Contains(err.Error(), "row-level security") {
		t.Fatalf("COPY into a table under RLS: %v, want PostgreSQL's refusal", err)
	}
}

// Rows land under RLS, counted by the usage counters, each audited in the
// tenant's chain.
func TestCopyInInsertsUnderRLS(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	a, _ := newTenant(t, env.DB, "enterprise")
	b, _ := newTenant(t, env.DB, "enterprise")
	n, err := copyIn(ctx, env.DB, system(a), workspaceRows(a, "bulk", 40))
	if err != nil || n != 40 {
		t.Fatalf("CopyIn: %d rows, %v; want 40", n, err)
	}
	names := workspaceNames(t, env, a)
	if len(names) != 40 || names[0] != "bulk-000" || names[39] != "bulk-039" {
		t.Fatalf("stored %v", names)
	}
	if got := workspaceNames(t, env, b); len(got) != 0 {
		t.Fatalf("the other tenant got %v", got)
	}
	if u := adminInt(t, env, `SELECT workspaces FROM tenant_usage WHERE tenant_id = $1`, a); u != 40 {
		t.Fatalf("usage counter %d, want 40", u)
	}
	audited := adminInt(t, env, `SELECT count(*) FROM workspaces w JOIN audit_events e
	    ON e.tenant_id = w.tenant_id AND e.target_id = w.id::text AND e.action = 'workspace.created'
	    WHERE w.tenant_id = $1`, a)
	if audited != 40 {
		t.Fatalf("%d of 40 rows audited", audited)
	}
	res, err := env.DB.VerifyAuditChain(ctx, a)
	if err != nil || !res.OK {
		t.Fatalf("audit chain after CopyIn: %+v %v", res, err)
	}
}

// A row naming another tenant fails the whole import: nothing of it is
// stored, counted or audited, in either tenant.
func TestCopyInRefusesAnotherTenantsRow(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	a, _ := newTenant(t, env.DB, "enterprise")
	b, _ := newTenant(t, env.DB, "enterprise")
	events := func(tenant uuid.UUID) int {
		return adminInt(t, env, `SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action = 'workspace.created'`, tenant)
	}
	src := generate(20, func(i int) []any {
		tenant := a
		if i == 13 {
			tenant = b
		}
		return []any{tenant, fmt.Sprint("mixed-", i), ""}
	})
	_, err := copyIn(ctx, env.DB, system(a), src)
	if e, ok := tenantd.AsError(err); !ok || e.Code != tenantd.EFORBIDDEN {
		t.Fatalf("CopyIn with another tenant's row: %v, want EFORBIDDEN", err)
	}
	for _, tn := range []uuid.UUID{a, b} {
		if got := workspaceNames(t, env, tn); len(got) != 0 {
			t.Errorf("tenant %s: stored %v", tn, got)
		}
		if n := events(tn); n != 0 {
			t.Errorf("tenant %s: %d workspace.created events", tn, n)
		}
		if u := adminInt(t, env, `SELECT workspaces FROM tenant_usage WHERE tenant_id = $1`, tn); u != 0 {
			t.Errorf("tenant %s: usage counter %d", tn, u)
		}
	}
}

// The role policies hold too: a member may not create workspaces,
// in bulk or not.
func TestCopyInKeepsRolePolicies(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	a, owner := newTenant(t, env.DB, "enterprise")
	member := tenantd.Scope{TenantID: a, UserID: owner, Role: tenantd.RoleMember,
		Actor: tenantd.Actor{Type: tenantd.ActorUser, ID: owner.String()}}
	_, err := copyIn(ctx, env.DB, member, workspaceRows(a, "member", 3))
	if e, ok := tenantd.AsError(err); !ok || e.Code != tenantd.EFORBIDDEN {
		t.Fatalf("a member's CopyIn: %v, want EFORBIDDEN", err)
	}
	if got := workspaceNames(t, env, a); len(got) != 0 {
		t.Fatalf("stored %v", got)
	}
}

// The plan's limit holds for a bulk insert as for single ones: an import
// that would pass it stores nothing.
func TestCopyInKeepsLimits(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	a, _ := newTenant(t, env.DB, "free") // max_workspaces 3
	_, err := copyIn(ctx, env.DB, system(a), workspaceRows(a, "over", 4))
	if e, ok := tenantd.AsError(err); !ok || e.Code != tenantd.ELIMIT || e.Limit != "max_workspaces" {
		t.Fatalf("CopyIn over the limit: %v, want ELIMIT max_workspaces", err)
	}
	if got := workspaceNames(t, env, a); len(got) != 0 {
		t.Fatalf("stored %v over the limit", got)
	}
	if n, err := copyIn(ctx, env.DB, system(a), workspaceRows(a, "fits", 3)); err != nil || n != 3 {
		t.Fatalf("CopyIn up to the limit: %d, %v", n, err)
	}
	_, err = copyIn(ctx, env.DB, system(a), workspaceRows(a, "one-more", 1))
	if e, ok := tenantd.AsError(err); !ok || e.Code != tenantd.ELIMIT {
		t.Fatalf("CopyIn past a full limit: %v, want ELIMIT", err)
	}
}

// The temporary tables live only as long as their transaction, committed
// or rolled back: on one connection, every transaction can name its first
// one the same, and a transaction can import several times.
func TestCopyInTemporaryTablesEndWithTheTransaction(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	a, _ := newTenant(t, env.DB, "enterprise")
	b, _ := newTenant(t, env.DB, "enterprise")
	one, err := postgres.Open(ctx, env.AppURL, postgres.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	if _, err := copyIn(ctx, one, system(a), workspaceRows(b, "refused", 2)); err == nil {
		t.Fatal("another tenant's rows were accepted")
	}
	err = one.InTenant(ctx, system(a), func(tx *postgres.Tx) error {
		for _, prefix := range []string{"first", "second"} {
			if _, err := tx.CopyIn(ctx, "workspaces", workspaceColumns, workspaceRows(a, prefix, 2)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := copyIn(ctx, one, system(a), workspaceRows(a, "third", 2)); err != nil {
		t.Fatal(err)
	}
	if got := workspaceNames(t, env, a); len(got) != 6 {
		t.Fatalf("stored %v, want 6 workspaces", got)
	}
}
