package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/postgres"
)

// The platform operations ask the directory for every cell: with two cells
// (two databases of the test cluster; every tenant still lives in the
// first), migrate migrates both, Ping and the role and isolation checks
// look at both, and a new tenant goes where the directory places it.
func TestPlatformOperationsCoverEveryCell(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cells := testenv.NewCells(t, 2)
	dir := postgres.NewDirectory(cells[0], cells[1])
	db, err := postgres.OpenDirectory(ctx, dir, postgres.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	admin := make([]*pgx.Conn, len(cells))
	for i, c := range cells {
		if admin[i], err = pgx.Connect(ctx, c.MigrateURL); err != nil {
			t.Fatal(err)
		}
		defer admin[i].Close(ctx)
	}

	// Nothing is migrated yet: Ping says so.
	if err := db.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded before any cell was migrated")
	}
	if err := dir.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for i, c := range admin {
		var v int64
		if err := c.QueryRow(ctx, `SELECT max(version_id) FROM goose_db_version WHERE is_applied`).Scan(&v); err != nil {
			t.Fatalf("cell %d: %v", i+1, err)
		}
		if v != postgres.SchemaVersion() {
			t.Fatalf("cell %d migrated to %d, want %d", i+1, v, postgres.SchemaVersion())
		}
	}
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("Ping with both cells migrated: %v", err)
	}
	if problems, err := db.RoleProblems(ctx); err != nil || len(problems) > 0 {
		t.Fatalf("RoleProblems: %v %v", problems, err)
	}

	// A new tenant goes to the cell the directory places it in (the home
	// cell, today), and its data is reached there.
	tn, _ := newTenant(t, db, "pro")
	for i, want := range []int{1, 0} {
		var n int
		if err := admin[i].QueryRow(ctx, `SELECT count(*) FROM tenants WHERE id = $1`, tn).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Fatalf("cell %d holds %d rows of the new tenant, want %d", i+1, n, want)
		}
	}
	if ws := createWorkspace(t, db, tn, "in the home cell"); ws.String() == "" {
		t.Fatal("no workspace")
	}

	// The isolation check reads both catalogs: a policy dropped in the
	// second cell is found there, and only there.
	if findings, err := db.VerifyIsolation(ctx); err != nil || len(findings) > 0 {
		t.Fatalf("VerifyIsolation on two migrated cells: %v %v", findings, err)
	}
	if _, err := admin[1].Exec(ctx, `DROP POLICY tenant_isolation ON sessions`); err != nil {
		t.Fatal(err)
	}
	findings, err := db.VerifyIsolation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 1 || findings[0].Cell != "cell2" || findings[0].Object != "sessions" ||
		!strings.Contains(findings[0].String(), "(cell cell2)") {
		t.Fatalf("findings %v, want one for sessions in cell2", findings)
	}

	// Ping holds every cell to the binary's schema...
	behind := `UPDATE goose_db_version SET is_applied = $1 WHERE version_id = (SELECT max(version_id) FROM goose_db_version)`
	if _, err := admin[1].Exec(ctx, behind, false); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(ctx); err == nil || !strings.Contains(err.Error(), "cell cell2: schema at version") {
		t.Fatalf("Ping with the second cell behind: %v", err)
	}
	if _, err := admin[1].Exec(ctx, behind, true); err != nil {
		t.Fatal(err)
	}

	// ...and fails when one cannot be reached.
	name := admin[1].Config().Database
	if _, err := admin[0].Exec(ctx, `ALTER DATABASE `+pgx.Identifier{name}.Sanitize()+` WITH ALLOW_CONNECTIONS false`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin[0].Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, name); err != nil {
		t.Fatal(err)
	}
	err = db.Ping(ctx)
	if err == nil || !strings.Contains(err.Error(), "cell cell2") {
		t.Fatalf("Ping with the second cell down: %v", err)
	}
	if e, ok := tenantd.AsError(err); !ok || e.Code != tenantd.EUNAVAILABLE {
		t.Fatalf("Ping with the second cell down: %v, want EUNAVAILABLE", err)
	}
	if _, err := db.VerifyIsolation(ctx); err == nil {
		t.Fatal("VerifyIsolation succeeded with the second cell down")
	}
	// The tenant, in the home cell, is still served.
	if ws := createWorkspace(t, db, tn, "while cell2 is down"); ws.String() == "" {
		t.Fatal("no workspace")
	}
}
