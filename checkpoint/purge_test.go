package checkpoint_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/postgres"
)

// keepAuditDays sets a tenant's audit retention (an operator's override of
// its plan), as the superuser.
func keepAuditDays(t *testing.T, c *pgx.Conn, tenant uuid.UUID, days int) {
	t.Helper()
	exec(t, c, `SELECT set_config('app.context', $1, false)`, tenant.String())
	exec(t, c, `UPDATE tenants SET features = features || jsonb_build_object('data_retention', jsonb_build_object('audit_days', $2::int)) WHERE id = $1`, tenant, days)
	exec(t, c, `RESET app.context`)
}

func (f *fixture) latestOf(t *testing.T, tenant uuid.UUID, kind string) *tenantd.Checkpoint {
	t.Helper()
	latest, err := f.store.Latest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range latest {
		if cp.TenantID == tenant && cp.Kind == kind {
			return &cp
		}
	}
	return nil
}

// A purge of the oldest events leaves a chain that verifies from its new
// origin, signed in the log before the purge; events younger than the
// tenant's retention are never purged; the purge is itself audited.
func TestPurgeKeepsTheChainVerifiable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	tenant := f.newTenant(t, 12)
	f.checkpoint(t)

	// Within the plan's retention (365 days): nothing goes.
	p, err := f.auditor.Purge(ctx, tenant, postgres.PurgeBefore{Seq: 8})
	if err != nil || p.Events != 0 || p.Origin.Seq != 0 {
		t.Fatalf("purge within the retention: %+v, %v", p, err)
	}
	if cp := f.latestOf(t, tenant, tenantd.CheckpointOrigin); cp != nil {
		t.Fatalf("an origin was signed for a purge that deleted nothing: %+v", cp)
	}

	keepAuditDays(t, f.admin(t), tenant, 0)
	if p, err := f.auditor.Purge(ctx, tenant, postgres.PurgeBefore{Time: time.Now().Add(-time.Hour)}); err != nil || p.Events != 0 {
		t.Fatalf("purge before the tenant existed: %+v, %v", p, err)
	}
	p, err = f.auditor.Purge(ctx, tenant, postgres.PurgeBefore{Seq: 8})
	if err != nil || p.Events != 7 || p.Origin.Seq != 7 {
		t.Fatalf("purge before seq 8: %+v, %v", p, err)
	}
	if cp := f.latestOf(t, tenant, tenantd.CheckpointOrigin); cp == nil || cp.Seq != 7 || string(cp.Hash) != string(p.Origin.Hash) {
		t.Fatalf("the signed origin: %+v, want event 7", cp)
	}
	f.seal(t, tenant) // the audit.purged event
	r := f.verify(t, tenant)
	if !r.OK || r.Origin.Seq != 7 || r.Events != r.HeadSeq-7 {
		t.Fatalf("verify after the purge: %+v", r)
	}
	items, _, err := f.env.DB.Audit().List(ctx, tenantd.SystemScope(tenant, tenantd.RequestInfo{ID: "t"}),
		tenantd.AuditFilter{Action: "audit.purged"})
	if err != nil || len(items) != 1 || items[0].Changes["events"] != float64(7) || items[0].Changes["through_seq"] != float64(7) {
		t.Fatalf("audit.purged events: %+v, %v", items, err)
	}
	for _, o := range f.checkpoint(t) {
		if o.TenantID == tenant && (!o.OK || !o.Signed) {
			t.Fatalf("checkpoint after the purge: %+v", o)
		}
	}

	// Everything up to now: the origin moves to the head, and the chain
	// still verifies (from the audit.purged event on).
	f.write(t, tenant, 2)
	p, err = f.auditor.Purge(ctx, tenant, postgres.PurgeBefore{Time: time.Now()})
	if err != nil || p.Origin.Seq != r.HeadSeq+3 {
		t.Fatalf("purge of everything: %+v, %v (head was %d)", p, err, r.HeadSeq)
	}
	f.seal(t, tenant)
	if r := f.verify(t, tenant); !r.OK || r.Events != 1 || r.Origin.Seq != p.Origin.Seq {
		t.Fatalf("verify after purging everything: %+v", r)
	}
}

// What remains after a purge is still held to its checkpoints: a changed
// event, an origin moved or forged by a superuser, a chain rewritten to its
// head from the origin on. The chain alone cannot tell the forged origin.
func TestTamperingAfterAPurgeIsCaught(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		tamper     func(t *testing.T, c *pgx.Conn, tenant uuid.UUID)
		aloneOK    bool // the chain by itself still verifies
		broken     int64
		wantInText string
	}{
		{"a remaining event changed", func(t *testing.T, c *pgx.Conn, tenant uuid.UUID) {
			exec(t, c, `UPDATE audit_events SET target_id = 'other' WHERE tenant_id = $1 AND seq = 9`, tenant)
		}, false, 9, "does not match its hash"},
		{"more events deleted and the origin moved", func(t *testing.T, c *pgx.Conn, tenant uuid.UUID) {
			exec(t, c, `DELETE FROM audit_events WHERE tenant_id = $1 AND seq <= 10`, tenant)
			exec(t, c, `UPDATE audit_origins SET seq = 10, hash = $2 WHERE tenant_id = $1`, tenant, hashOf(t, c, tenant, 11, "prev_hash"))
		}, true, 8, "purged without a signed origin"},
		{"the origin forged to another hash", func(t *testing.T, c *pgx.Conn, tenant uuid.UUID) {
			exec(t, c, `UPDATE audit_origins SET hash = sha256('forged') WHERE tenant_id = $1`, tenant)
		}, false, 7, "origin"},
		{"the origin removed", func(t *testing.T, c *pgx.Conn, tenant uuid.UUID) {
			exec(t, c, `DELETE FROM audit_origins WHERE tenant_id = $1`, tenant)
		}, false, 1, "missing"},
		{"rewritten from the origin to the head", func(t *testing.T, c *pgx.Conn, tenant uuid.UUID) {
			rewriteFrom(t, c, tenant, 8)
		}, true, 0, "rewritten"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			ctx := context.Background()
			tenant := f.newTenant(t, 14)
			keepAuditDays(t, f.admin(t), tenant, 0)
			if p, err := f.auditor.Purge(ctx, tenant, postgres.PurgeBefore{Seq: 8}); err != nil || p.Origin.Seq != 7 {
				t.Fatalf("purge: %+v, %v", p, err)
			}
			f.checkpoint(t)
			before := f.verify(t, tenant)
			if !before.OK {
				t.Fatalf("before tampering: %+v", before)
			}

			tc.tamper(t, f.admin(t), tenant)

			if r, err := f.env.DB.VerifyAuditChain(ctx, tenant); err != nil || r.OK != tc.aloneOK {
				t.Fatalf("the chain alone: %+v, %v; want ok=%v", r, err, tc.aloneOK)
			}
			want := tc.broken
			if want == 0 {
				want = before.HeadSeq
			}
			r := f.verify(t, tenant)
			if r.OK || r.BrokenSeq != want || !strings.Contains(r.Problem, tc.wantInText) {
				t.Fatalf("verify: %+v, want broken at %d (%q)", r, want, tc.wantInText)
			}
			// Neither signed nor purged further: the evidence stays.
			for _, o := range f.checkpoint(t) {
				if o.TenantID == tenant && o.Signed {
					t.Fatalf("the checkpointer signed the tampered chain: %+v", o)
				}
			}
			if _, err := f.auditor.Purge(ctx, tenant, postgres.PurgeBefore{}); err == nil || !strings.Contains(err.Error(), "refusing to purge") {
				t.Fatalf("purge of a tampered chain: %v", err)
			}
		})
	}
}

func hashOf(t *testing.T, c *pgx.Conn, tenant uuid.UUID, seq int64, column string) []byte {
	t.Helper()
	var h []byte
	if err := c.QueryRow(context.Background(), `SELECT `+column+` FROM audit_events WHERE tenant_id = $1 AND seq = $2`, tenant, seq).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}
