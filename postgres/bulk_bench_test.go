//go:build unix

package postgres_test

import (
	"context"
	"flag"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/postgres"
)

// The bulk path (Tx.CopyIn: COPY into a temporary table, then INSERT …
// SELECT under RLS) against plain COPY into an equivalent table without
// RLS, in rows per second. Three tables of the same contacts-like shape
// (tenant_id, id, email, name, created_at; primary key and a unique email
// index led by tenant_id) in one database:
//
//	contacts_plain    no RLS, no trigger: plain COPY, as the application role;
//	contacts_rls      RLS enabled and forced, the tenant policy: CopyIn;
//	contacts_audited  as contacts_rls, plus the audit row trigger every
//	                  tenant table has (one event per row, which the sealer
//	                  then hash-chains): CopyIn.
//
// BenchmarkBulkInsert alternates plain COPY and CopyIn within every
// operation (each into an emptied table), so the machine's drift hits both
// alike, and reports both rates and their ratio. BenchmarkBulkInsertAudited
// measures the audited table alone: the import, and the import and the
// sealing of its events (what chains them into the tenant's hash chain). Each import is -bulk-rows rows,
// generated as the COPY streams, never held; peak-RSS-MB is the test
// process's peak resident memory, which stays flat as -bulk-rows grows.
//
//	go test ./postgres -run '^$' -bench 'BulkInsert$' -benchtime 3x -args -bulk-rows 100000
//	go test ./postgres -run '^$' -bench BulkInsertAudited -benchtime 1x -args -bulk-rows 10000

var bulkRows = flag.Int("bulk-rows", 100_000, "rows per import in BenchmarkBulkInsert")

const benchContactsDDL = `
SET ROLE tenantd_owner;
CREATE TABLE %[1]s (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    id         uuid NOT NULL DEFAULT gen_random_uuid(),
    email      text NOT NULL,
    name       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX ON %[1]s (tenant_id, lower(email));
GRANT SELECT, INSERT ON %[1]s TO tenantd_app;
RESET ROLE;`

const benchRLSDDL = `
SET ROLE tenantd_owner;
ALTER TABLE %[1]s ENABLE ROW LEVEL SECURITY;
ALTER TABLE %[1]s FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON %[1]s
    USING (tenant_id = app.current_tenant()) WITH CHECK (tenant_id = app.current_tenant());
RESET ROLE;`

const benchAuditDDL = `
CREATE TRIGGER audit_row AFTER INSERT OR UPDATE OR DELETE ON %[1]s
    FOR EACH ROW EXECUTE FUNCTION app.audit_row('contact', 'id');`

var contactColumns = []string{"tenant_id", "email", "name"}

func contactRows(tenant uuid.UUID, n int) pgx.CopyFromSource {
	return generate(n, func(i int) []any {
		return []any{tenant, fmt.Sprintf("contact-%d@example.com", i), fmt.Sprint("Contact ", i)}
	})
}

// bulkBench is a database with the three contacts tables and a tenant.
type bulkBench struct {
	env    *testenv.Env
	admin  *pgx.Conn
	app    *pgx.Conn // the application role, without the door
	tenant uuid.UUID
	rows   int
}

func newBulkBench(b *testing.B) *bulkBench {
	env := testenv.New(b)
	admin := adminConn(b, env)
	for _, ddl := range []string{
		fmt.Sprintf(benchContactsDDL, "contacts_plain"),
		fmt.Sprintf(benchContactsDDL, "contacts_rls"), fmt.Sprintf(benchRLSDDL, "contacts_rls"),
		fmt.Sprintf(benchContactsDDL, "contacts_audited"), fmt.Sprintf(benchRLSDDL, "contacts_audited"),
		fmt.Sprintf(benchAuditDDL, "contacts_audited"),
	} {
		exec(b, admin, ddl)
	}
	app, err := pgx.Connect(context.Background(), env.AppURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { app.Close(context.Background()) })
	tenant, _ := newTenant(b, env.DB, "enterprise")
	return &bulkBench{env: env, admin: admin, app: app, tenant: tenant, rows: *bulkRows}
}

// plainCopy imports the rows into table with COPY, timed.
func (bb *bulkBench) plainCopy(b *testing.B, table string) time.Duration {
	exec(b, bb.admin, "TRUNCATE "+table)
	start := time.Now()
	n, err := bb.app.CopyFrom(context.Background(), pgx.Identifier{table}, contactColumns, contactRows(bb.tenant, bb.rows))
	bb.check(b, n, err)
	return time.Since(start)
}

// copyIn imports the rows into table through the door, timed.
func (bb *bulkBench) copyIn(b *testing.B, table string) time.Duration {
	exec(b, bb.admin, "TRUNCATE "+table)
	ctx := context.Background()
	start := time.Now()
	var n int64
	err := bb.env.DB.InTenant(ctx, system(bb.tenant), func(tx *postgres.Tx) (err error) {
		n, err = tx.CopyIn(ctx, table, contactColumns, contactRows(bb.tenant, bb.rows))
		return err
	})
	bb.check(b, n, err)
	return time.Since(start)
}

func (bb *bulkBench) check(b *testing.B, n int64, err error) {
	if err != nil {
		b.Fatal(err)
	}
	if n != int64(bb.rows) {
		b.Fatalf("%d rows inserted, want %d", n, bb.rows)
	}
}

func (bb *bulkBench) rate(b *testing.B, spent time.Duration, unit string) float64 {
	r := float64(bb.rows*b.N) / spent.Seconds()
	b.ReportMetric(r, unit)
	return r
}

func reportPeakRSS(b *testing.B) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB") // Maxrss is in KiB on Linux
	}
}

func BenchmarkBulkInsert(b *testing.B) {
	bb := newBulkBench(b)
	var plain, bulk time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		plain += bb.plainCopy(b, "contacts_plain")
		bulk += bb.copyIn(b, "contacts_rls")
	}
	b.StopTimer()
	p := bb.rate(b, plain, "plain-COPY-rows/s")
	c := bb.rate(b, bulk, "CopyIn-RLS-rows/s")
	b.ReportMetric(c/p, "CopyIn/COPY")
	reportPeakRSS(b)
}

func BenchmarkBulkInsertAudited(b *testing.B) {
	bb := newBulkBench(b)
	if _, err := bb.env.DB.SealAudit(context.Background(), bb.tenant); err != nil {
		b.Fatal(err)
	}
	var spent, sealing time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		spent += bb.copyIn(b, "contacts_audited")
		start := time.Now()
		if _, err := bb.env.DB.SealAudit(context.Background(), bb.tenant); err != nil {
			b.Fatal(err)
		}
		sealing += time.Since(start)
	}
	b.StopTimer()
	bb.rate(b, spent, "CopyIn-audited-rows/s")
	bb.rate(b, spent+sealing, "CopyIn-audited-and-sealed-rows/s")
	reportPeakRSS(b)
}
