package securitycheck_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/auth"
	"github.com/tenantd/tenantd/checkpoint"
	"github.com/tenantd/tenantd/internal/pgtest"
	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/postgres"
	"github.com/tenantd/tenantd/securitycheck"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// logBuffer collects JSON log lines from the checker.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// errors returns the checks named by error-level log lines.
func (b *logBuffer) errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var checks []string
	for _, line := range strings.Split(b.buf.String(), "\n") {
		var l struct{ Level, Check string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Level == "ERROR" {
			checks = append(checks, l.Check)
		}
	}
	return checks
}

type fixture struct {
	env  *testenv.Env
	reg  *prometheus.Registry
	log  *logBuffer
	chk  *securitycheck.Checker
	conn *pgx.Conn // superuser, to break things
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{env: testenv.New(t), reg: prometheus.NewRegistry(), log: &logBuffer{}}
	f.chk = securitycheck.New(f.env.DB, securitycheck.Options{Registry: f.reg, Logger: slog.New(slog.NewJSONHandler(f.log, nil))})
	conn, err := pgx.Connect(t.Context(), f.env.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	f.conn = conn
	if _, _, err := f.env.DB.Platform().CreateTenant(t.Context(), tenantd.NewTenant{
		Slug: "acme", Name: "Acme", Plan: "pro", OwnerEmail: "owner@acme.example", OwnerPasswordHash: "not-a-real-hash",
	}, tenantd.RequestInfo{ID: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.env.DB.SealAllAudit(t.Context()); err != nil { // as the server's sealer would
		t.Fatal(err)
	}
	return f
}

func (f *fixture) exec(t *testing.T, sql string) {
	t.Helper()
	if _, err := f.conn.Exec(t.Context(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// metric is the value of a metric of the checker for one check.
func (f *fixture) metric(t *testing.T, name, check string) float64 {
	t.Helper()
	families, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "check" && l.GetValue() == check {
					if m.GetCounter() != nil {
						return m.GetCounter().GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no metric %s{check=%q}", name, check)
	return 0
}

// securityView returns the security events the platform's security view
// lists with the action of check's failures.
func (f *fixture) securityView(t *testing.T, check string) []string {
	t.Helper()
	events, _, err := f.env.DB.Platform().UnattributedSecurityEvents(t.Context(), "", 500)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, e := range events {
		if e.Action == securitycheck.EventAction+check {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

func statusOf(t *testing.T, statuses []securitycheck.Status, check string) securitycheck.Status {
	t.Helper()
	for _, s := range statuses {
		if s.Check == check {
			return s
		}
	}
	t.Fatalf("no status for %s in %+v", check, statuses)
	return securitycheck.Status{}
}

func TestHealthyDatabasePasses(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, s := range f.chk.Statuses() {
		if s.State != securitycheck.StatePending || !s.LastRun.IsZero() {
			t.Errorf("before the first run: %+v, want pending", s)
		}
	}
	f.chk.Run(t.Context(), 0) // at start: once, then (interval 0) no schedule
	for _, check := range []string{securitycheck.Isolation, securitycheck.AuditChains} {
		s := statusOf(t, f.chk.Statuses(), check)
		if s.State != securitycheck.StateOK || s.LastRun.IsZero() || len(s.Problems) != 0 {
			t.Errorf("%s on a healthy database: %+v", check, s)
		}
		if v := f.metric(t, "tenantd_security_check_ok", check); v != 1 {
			t.Errorf("tenantd_security_check_ok{check=%q} = %v, want 1", check, v)
		}
		if v := f.metric(t, "tenantd_security_check_failures_total", check); v != 0 {
			t.Errorf("tenantd_security_check_failures_total{check=%q} = %v, want 0", check, v)
		}
		if v := f.metric(t, "tenantd_security_check_last_run_timestamp_seconds", check); v < float64(s.LastRun.Unix()) {
			t.Errorf("tenantd_security_check_last_run_timestamp_seconds{check=%q} = %v, want the run's time %v", check, v, s.LastRun)
		}
		if got := f.securityView(t, check); len(got) != 0 {
			t.Errorf("the security view lists a passed %s check: %v", check, got)
		}
	}
	if got := f.log.errors(); len(got) != 0 {
		t.Errorf("error log lines for passing checks: %v", got)
	}
}

// A policy dropped by the database superuser fails the isolation check:
// the metrics, the status for /readyz, the error log and the security view
// all show it; fixing it makes the next run pass again.
func TestBrokenIsolationFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.exec(t, `DROP POLICY tenant_isolation ON sessions`)

	statuses := f.chk.RunOnce(t.Context())
	s := statusOf(t, statuses, securitycheck.Isolation)
	if s.State != securitycheck.StateFailed || len(s.Problems) == 0 || !strings.HasPrefix(s.Problems[0], "sessions:") {
		t.Fatalf("isolation after dropping a policy: %+v, want failed naming sessions", s)
	}
	if a := statusOf(t, statuses, securitycheck.AuditChains); a.State != securitycheck.StateOK {
		t.Errorf("audit chains: %+v, want ok", a)
	}
	if got := statusOf(t, f.chk.Statuses(), securitycheck.Isolation); got.State != securitycheck.StateFailed {
		t.Errorf("Statuses (for /readyz): %+v, want failed", got)
	}
	if v := f.metric(t, "tenantd_security_check_ok", securitycheck.Isolation); v != 0 {
		t.Errorf("tenantd_security_check_ok{check=isolation} = %v, want 0", v)
	}
	if v := f.metric(t, "tenantd_security_check_failures_total", securitycheck.Isolation); v != 1 {
		t.Errorf("tenantd_security_check_failures_total{check=isolation} = %v, want 1", v)
	}
	if v := f.metric(t, "tenantd_security_check_problems", securitycheck.Isolation); v < 1 {
		t.Errorf("tenantd_security_check_problems{check=isolation} = %v, want at least 1", v)
	}
	if got := f.log.errors(); len(got) != 1 || got[0] != securitycheck.Isolation {
		t.Errorf("error log lines for checks %v, want one for isolation", got)
	}
	if got := f.securityView(t, securitycheck.Isolation); len(got) != 1 || !strings.Contains(got[0], "sessions") {
		t.Errorf("security view: %q, want one event naming sessions", got)
	}

	f.exec(t, `CREATE POLICY tenant_isolation ON sessions USING (tenant_id = app.current_tenant()) WITH CHECK (tenant_id = app.current_tenant())`)
	f.chk.RunOnce(t.Context())
	if got := statusOf(t, f.chk.Statuses(), securitycheck.Isolation); got.State != securitycheck.StateOK {
		t.Errorf("after restoring the policy: %+v, want ok", got)
	}
	if v := f.metric(t, "tenantd_security_check_ok", securitycheck.Isolation); v != 1 {
		t.Errorf("after restoring the policy: tenantd_security_check_ok = %v, want 1", v)
	}
	if v := f.metric(t, "tenantd_security_check_failures_total", securitycheck.Isolation); v != 1 {
		t.Errorf("after restoring the policy: failures_total = %v, want still 1", v)
	}
}

// An audit event rewritten by the database superuser fails the audit-chain
// check, naming the tenant and the event.
func TestTamperedAuditChainFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.exec(t, `UPDATE audit_events SET action = 'tenant.renamed' WHERE seq = 1`)

	s := statusOf(t, f.chk.RunOnce(t.Context()), securitycheck.AuditChains)
	if s.State != securitycheck.StateFailed || len(s.Problems) != 1 || !strings.Contains(s.Problems[0], "tenant acme") ||
		!strings.Contains(s.Problems[0], "seq 1") {
		t.Fatalf("audit chains after tampering: %+v, want failed naming acme's seq 1", s)
	}
	if v := f.metric(t, "tenantd_security_check_ok", securitycheck.AuditChains); v != 0 {
		t.Errorf("tenantd_security_check_ok{check=audit_chains} = %v, want 0", v)
	}
	if v := f.metric(t, "tenantd_security_check_failures_total", securitycheck.AuditChains); v != 1 {
		t.Errorf("tenantd_security_check_failures_total{check=audit_chains} = %v, want 1", v)
	}
	if got := f.log.errors(); len(got) != 1 || got[0] != securitycheck.AuditChains {
		t.Errorf("error log lines for checks %v, want one for audit_chains", got)
	}
	if got := f.securityView(t, securitycheck.AuditChains); len(got) != 1 || !strings.Contains(got[0], "acme") {
		t.Errorf("security view: %q, want one event naming acme", got)
	}
}

// With the signed checkpoints (as serve wires it), the check catches what
// the chain alone cannot: a tail deleted with the head reset to match.
func TestTruncatedChainFailsAgainstCheckpoints(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	key, err := checkpoint.NewKey(make([]byte, auth.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	auditor := &checkpoint.Auditor{DB: f.env.DB, Store: checkpoint.NewFileStore(filepath.Join(t.TempDir(), "cp.jsonl"), key), Key: key}
	chk := securitycheck.New(f.env.DB, securitycheck.Options{
		VerifyChains: func(ctx context.Context) ([]postgres.VerifyResult, error) { return auditor.Verify(ctx, "") },
	})
	tenant, err := f.env.DB.Platform().TenantBySlug(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := auditor.Checkpoint(t.Context()); err != nil || len(out) != 1 || !out[0].Signed || out[0].HeadSeq < 2 {
		t.Fatalf("checkpoint: %+v, %v; want acme's chain of 2 or more events signed", out, err)
	}
	if s := statusOf(t, chk.RunOnce(t.Context()), securitycheck.AuditChains); s.State != securitycheck.StateOK {
		t.Fatalf("before the attack: %+v", s)
	}

	f.exec(t, fmt.Sprintf(`DELETE FROM audit_events WHERE tenant_id = '%s' AND seq > 1;
		UPDATE audit_heads SET seq = 1, hash = (SELECT hash FROM audit_events WHERE tenant_id = '%[1]s' AND seq = 1) WHERE tenant_id = '%[1]s'`, tenant.ID))
	if s := statusOf(t, f.chk.RunOnce(t.Context()), securitycheck.AuditChains); s.State != securitycheck.StateOK {
		t.Fatalf("the attack is not clean: the chain alone fails: %+v", s)
	}
	if s := statusOf(t, chk.RunOnce(t.Context()), securitycheck.AuditChains); s.State != securitycheck.StateFailed ||
		!strings.Contains(s.Problems[0], "tenant acme") {
		t.Fatalf("truncated chain against its checkpoint: %+v, want failed naming acme", s)
	}
}
