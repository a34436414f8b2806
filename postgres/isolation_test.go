package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/postgres"
)

// tenantTables are every table with a tenant_id column; the test below
// fails if the schema grows one that is not listed here.
var tenantTables = []string{"audit_events", "audit_heads", "audit_origins", "idempotency_keys", "invitations", "platform_flags",
	"refresh_rotations", "sessions", "tenant_settings",
	"tenant_usage", "users", "workspace_members", "workspaces"}

func TestTenantTablesAreListed(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	rows, err := adminConn(t, env).Query(context.Background(),
		`SELECT DISTINCT table_name::text FROM information_schema.columns
		  WHERE column_name = 'tenant_id' AND table_schema = 'public' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != strings.Join(tenantTables, ",") {
		t.Fatalf("tenant tables = %v, the isolation tests cover %v", got, tenantTables)
	}
}

// With no tenant context, the application role sees zero rows in every
// tenant table and the database rejects every write.
func TestFailClosedWithoutTenantContext(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	a, _ := newTenant(t, env.DB, "pro")
	createWorkspace(t, env.DB, a, "Alpha")

	ctx := context.Background()
	app, err := pgx.Connect(ctx, env.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)

	for _, table := range append(tenantTables, "tenants") {
		var n int
		err := app.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n)
		if table == "platform_flags" {
			// The application may only insert flags that the platform reads.
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
				t.Errorf("%s: the application role reads it: %v", table, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if n != 0 {
			t.Errorf("%s: %d rows visible without tenant context", table, n)
		}
	}
	// The same after a transaction that did set a context has ended
	// (current_setting then returns '' rather than NULL).
	tx, _ := app.Begin(ctx)
	tx.Exec(ctx, "SET LOCAL app.context = '"+a.String()+"'")
	tx.Commit(ctx)
	var n int
	if err := app.QueryRow(ctx, "SELECT count(*) FROM workspaces").Scan(&n); err != nil || n != 0 {
		t.Fatalf("after a context ended: %d rows, err %v", n, err)
	}

	writes := []string{
		fmt.Sprintf(`INSERT INTO workspaces (tenant_id, name) VALUES ('%s', 'x')`, a),
		fmt.Sprintf(`INSERT INTO users (tenant_id, email, role) VALUES ('%s', 'x@y.z', 'member')`, a),
		fmt.Sprintf(`INSERT INTO audit_events (tenant_id, actor_type, action, outcome) VALUES ('%s', 'system', 'x.y', 'success')`, a),
	}
	for _, w := range writes {
		if _, err := app.Exec(ctx, w); err == nil {
			t.Errorf("write without context succeeded: %s", w)
		}
	}
	for _, w := range []string{`UPDATE workspaces SET name = 'owned'`, `UPDATE users SET role = 'owner'`} {
		tag, err := app.Exec(ctx, w)
		if err == nil && tag.RowsAffected() != 0 {
			t.Errorf("%s changed %d rows without context", w, tag.RowsAffected())
		}
	}
	if _, err := app.Exec(ctx, `DELETE FROM workspace_members`); err != nil {
		t.Fatal(err) // allowed statement, but must touch nothing
	}
	if names := workspaceNames(t, env, a); len(names) != 1 || names[0] != "Alpha" {
		t.Fatalf("tenant A's workspaces changed: %v", workspaceNames(t, env, a))
	}
}

// A tenant's context sees only its rows; writing another tenant's id is
// rejected by WITH CHECK.
func TestTenantSeesOnlyItsRows(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	a, _ := newTenant(t, env.DB, "pro")
	b, _ := newTenant(t, env.DB, "pro")
	createWorkspace(t, env.DB, a, "A1")
	createWorkspace(t, env.DB, a, "A2")
	createWorkspace(t, env.DB, b, "B1")

	for tenant, want := range map[uuid.UUID]int{a: 2, b: 1} {
		err := env.DB.InTenant(ctx, system(tenant), func(tx *postgres.Tx) error {
			// No tenant_id predicate on purpose: RLS alone must filter.
			rows, err := tx.Query(ctx, `SELECT tenant_id FROM workspaces`)
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
			if err != nil {
				return err
			}
			if len(ids) != want {
				t.Errorf("tenant %s sees %d workspaces, want %d", tenant, len(ids), want)
			}
			for _, id := range ids {
				if id != tenant {
					t.Errorf("tenant %s sees a row of %s", tenant, id)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	err := env.DB.Run(ctx, system(a), postgres.Statement{
		SQL: `INSERT INTO workspaces (tenant_id, name) VALUES ($1, 'smuggled')`, Args: []any{b}})
	if tenantd.ErrorCode(err) != tenantd.EFORBIDDEN {
		t.Fatalf("insert with B's tenant_id under A's context: %v, want forbidden", err)
	}
	err = env.DB.Run(ctx, system(a), postgres.Statement{
		SQL: `UPDATE workspaces SET tenant_id = $1 WHERE tenant_id = $2`, Args: []any{b, a}})
	if tenantd.ErrorCode(err) != tenantd.EFORBIDDEN {
		t.Fatalf("moving A's rows to B: %v, want forbidden", err)
	}
}

// FORCE ROW LEVEL SECURITY: even the owner of the tables is filtered, and
// the application role can neither disable nor un-force RLS.
func TestForcedRLSAndNoAppDDL(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	a, _ := newTenant(t, env.DB, "pro")
	createWorkspace(t, env.DB, a, "A1")

	admin := adminConn(t, env)
	tx, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL ROLE tenantd_owner`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM workspaces`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("table owner without context sees %d rows: RLS is not forced", n)
	}

	app, err := pgx.Connect(ctx, env.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)
	for _, ddl := range []string{
		`ALTER TABLE workspaces DISABLE ROW LEVEL SECURITY`,
		`ALTER TABLE workspaces NO FORCE ROW LEVEL SECURITY`,
		`DROP POLICY workspaces_select ON workspaces`,
		`ALTER TABLE workspaces DISABLE TRIGGER audit_row`,
		`SET ROLE tenantd_owner`,
		`SET ROLE tenantd_platform`,
	} {
		if _, err := app.Exec(ctx, ddl); err == nil {
			t.Errorf("application role could run %q", ddl)
		}
	}
}

// A transaction that fails half-way leaves nothing behind on the
// connection: with a pool of one, the next transaction for another tenant
// sees only its own rows, and a connection without context sees nothing.
func TestNoContextLeaksAcrossPooledTransactions(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	a, _ := newTenant(t, env.DB, "pro")
	b, _ := newTenant(t, env.DB, "pro")
	createWorkspace(t, env.DB, a, "A1")
	createWorkspace(t, env.DB, b, "B1")

	one, err := postgres.Open(ctx, env.AppURL, postgres.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()

	failures := map[string]func() error{
		"error": func() error {
			return one.InTenant(ctx, system(a), func(tx *postgres.Tx) error {
				if _, err := tx.Exec(ctx, `SELECT 1 FROM workspaces`); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `SELECT 1/0`)
				return err
			})
		},
		"callback error": func() error {
			return one.InTenant(ctx, system(a), func(tx *postgres.Tx) error {
				if _, err := tx.Exec(ctx, `UPDATE workspaces SET name = 'changed'`); err != nil {
					return err
				}
				return errors.New("fails after the write")
			})
		},
		"panic": func() (err error) {
			defer func() {
				if recover() != nil {
					err = errors.New("panicked")
				}
			}()
			return one.InTenant(ctx, system(a), func(tx *postgres.Tx) error {
				tx.Exec(ctx, `UPDATE workspaces SET name = 'changed'`)
				panic("boom")
			})
		},
		"cancel": func() error {
			cctx, cancel := context.WithCancel(ctx)
			return one.InTenant(cctx, system(a), func(tx *postgres.Tx) error {
				if _, err := tx.Exec(cctx, `UPDATE workspaces SET name = 'changed'`); err != nil {
					return err
				}
				cancel()
				_, err := tx.Exec(cctx, `SELECT pg_sleep(0.2)`)
				return err
			})
		},
		"failed one-trip statement": func() error {
			return one.Run(ctx, system(a), postgres.Statement{SQL: `SELECT 1/0 FROM workspaces`})
		},
	}
	for name, fail := range failures {
		if err := fail(); err == nil {
			t.Fatalf("%s: expected an error", name)
		}
		err := one.InTenant(ctx, system(b), func(tx *postgres.Tx) error {
			rows, err := tx.Query(ctx, `SELECT tenant_id, name FROM workspaces`)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id uuid.UUID
				var n string
				if err := rows.Scan(&id, &n); err != nil {
					return err
				}
				if id != b || n != "B1" {
					t.Errorf("after %s: tenant B sees %s/%s", name, id, n)
				}
			}
			return rows.Err()
		})
		if err != nil {
			t.Fatalf("after %s: %v", name, err)
		}
	}
	if names := workspaceNames(t, env, a); len(names) != 1 || names[0] != "A1" {
		t.Fatalf("a rolled-back write of A persisted: %v", workspaceNames(t, env, a))
	}
}

// Many goroutines for many tenants at once: every row each one reads is its
// own tenant's.
func TestConcurrentTenantsSeeOnlyTheirRows(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	const tenants, rounds = 8, 25
	ids := make([]uuid.UUID, tenants)
	for i := range ids {
		ids[i], _ = newTenant(t, env.DB, "pro")
		createWorkspace(t, env.DB, ids[i], "W")
	}
	var wg sync.WaitGroup
	for g := range tenants * 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			me := ids[g%tenants]
			for i := range rounds {
				var seen []uuid.UUID
				scan := func(r pgx.Rows) error {
					var err error
					seen, err = pgx.CollectRows(r, pgx.RowTo[uuid.UUID])
					return err
				}
				var err error
				if i%2 == 0 {
					err = env.DB.Run(ctx, system(me), postgres.Statement{SQL: `SELECT tenant_id FROM workspaces`, Scan: scan})
				} else {
					err = env.DB.InTenant(ctx, system(me), func(tx *postgres.Tx) error {
						if _, err := tx.Exec(ctx, `UPDATE workspaces SET description = $1`, fmt.Sprint(i)); err != nil {
							return err
						}
						rows, err := tx.Query(ctx, `SELECT tenant_id FROM workspaces`)
						if err != nil {
							return err
						}
						return scan(rows)
					})
				}
				if err != nil {
					t.Error(err)
					return
				}
				if len(seen) != 1 || seen[0] != me {
					t.Errorf("tenant %s saw %v", me, seen)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// The door's round trips, counted on the wire.
func TestRoundTripsPerTransaction(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	a, _ := newTenant(t, env.DB, "pro")
	ws := createWorkspace(t, env.DB, a, "A1")
	one, err := postgres.Open(ctx, env.AppURL, postgres.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()

	// Steady state: each statement is prepared on a connection the first
	// time it runs there (one extra round trip, once), so run it once first.
	count := func(f func() error) int64 {
		if err := f(); err != nil {
			t.Fatal(err)
		}
		before := one.RoundTrips()
		if err := f(); err != nil {
			t.Fatal(err)
		}
		return one.RoundTrips() - before
	}
	read := count(func() error {
		return one.Run(ctx, system(a), postgres.Statement{
			SQL: `SELECT name FROM workspaces WHERE tenant_id = $1 AND id = $2`, Args: []any{a, ws},
			Scan: func(r pgx.Rows) error { _, err := pgx.CollectRows(r, pgx.RowTo[string]); return err }})
	})
	write := count(func() error {
		return one.Run(ctx, system(a), postgres.Statement{
			SQL: `UPDATE workspaces SET name = 'renamed' WHERE tenant_id = $1 AND id = $2`, Args: []any{a, ws},
			Events: []tenantd.Event{{Action: "test.extra_event"}}})
	})
	general := count(func() error {
		return one.InTenant(ctx, system(a), func(tx *postgres.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE workspaces SET name = 'again' WHERE tenant_id = $1 AND id = $2`, a, ws)
			tx.Audit(tenantd.Event{Action: "test.extra_event"})
			return err
		})
	})
	t.Logf("round trips: Run read %d, Run audited write %d, InTenant one statement %d", read, write, general)
	if read != 1 || write != 1 {
		t.Errorf("Run: read %d and write %d round trips, want 1 each", read, write)
	}
	if general != 2 {
		t.Errorf("InTenant with one statement: %d round trips, want 2 (statement, commit)", general)
	}
}

// The door's statements per transaction: BEGIN, one SET LOCAL carrying the
// whole context (whatever the role and however many workspaces), the
// session guard when the scope has a session, the statement and COMMIT.
func TestStatementsPerTransaction(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	a, owner := newTenant(t, env.DB, "pro")
	ws := createWorkspace(t, env.DB, a, "A1")
	member, err := env.DB.Users().Create(ctx, system(a), "member@example.com", tenantd.RoleMember, "x")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"A2", "A3"} {
		other := createWorkspace(t, env.DB, a, name)
		if _, _, err := env.DB.Workspaces().PutMember(ctx, system(a), other, member.ID, tenantd.WorkspaceEditor); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := env.DB.Workspaces().PutMember(ctx, system(a), ws, member.ID, tenantd.WorkspaceViewer); err != nil {
		t.Fatal(err)
	}
	signedIn := func(user uuid.UUID) tenantd.Scope {
		session, err := env.DB.Identity().CreateSession(ctx, a, user, []byte("h"), time.Now().Add(time.Hour), tenantd.RequestInfo{})
		if err != nil {
			t.Fatal(err)
		}
		st, err := env.DB.Identity().LoadPrincipal(ctx, a, user, session, tenantd.RequestInfo{})
		if err != nil || !st.SessionLive {
			t.Fatalf("principal: %+v, %v", st, err)
		}
		return tenantd.ScopeFor(st.Principal, tenantd.RequestInfo{ID: "test", UserAgent: "test"})
	}
	read := postgres.Statement{
		SQL: `SELECT name FROM workspaces WHERE tenant_id = $1 AND id = $2`, Args: []any{a, ws},
		Scan: func(r pgx.Rows) error {
			names, err := pgx.CollectRows(r, pgx.RowTo[string])
			if err == nil && len(names) != 1 {
				err = fmt.Errorf("read %d rows, want 1", len(names))
			}
			return err
		}}
	for _, c := range []struct {
		name  string
		scope tenantd.Scope
		want  int64
	}{
		{"server", system(a), 4},                     // BEGIN, SET LOCAL, select, COMMIT
		{"owner's request", signedIn(owner), 5},      // and the session guard
		{"member's request", signedIn(member.ID), 5}, // three workspaces, still one SET LOCAL
	} {
		before := env.DB.Statements()
		if err := env.DB.Run(ctx, c.scope, read); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := env.DB.Statements() - before; got != c.want {
			t.Errorf("%s: %d statements in the transaction, want %d", c.name, got, c.want)
		}
	}
}
