package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/postgres"
)

// The database's encoding (app.audit_canonical, used at write time) gives
// the golden vectors' bytes and hashes too: both sides follow the one
// documented encoding.
func TestGoldenVectorsInTheDatabase(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	c := adminConn(t, env)
	for i, g := range postgres.GoldenVectors() {
		var canonical, hash string
		err := c.QueryRow(context.Background(), `
SELECT app.audit_canonical(e), encode(sha256($2 || convert_to(app.audit_canonical(e), 'UTF8')), 'hex')
  FROM jsonb_populate_record(NULL::audit_events, $1::jsonb) e`, string(g.Row), g.PrevHash).Scan(&canonical, &hash)
		if err != nil {
			t.Fatal(err)
		}
		if canonical != g.Canonical || hash != g.Hash {
			t.Errorf("vector %d: the database encodes\n %s (%s)\nwant\n %s (%s)", i, canonical, hash, g.Canonical, g.Hash)
		}
	}
}

// Events with every kind of value a superuser could store (control
// characters, quotes, non-ASCII, netmasks, IPv6 forms Go and PostgreSQL
// print differently, jsonb numbers that keep their scale) are encoded in Go
// exactly as the database encoded them when it hashed them.
func TestGoEncodingMatchesTheDatabase(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	tenant, _ := newTenant(t, env.DB, "pro")
	c := adminConn(t, env)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT set_config('app.context', $1, true)`, tenant.String()); err != nil {
		t.Fatal(err)
	}
	texts := []string{"", `quote " back \ slash`, "ctl \x01\x08\x0c\x1f\x7f", "tab\tnl\ncr\r", "é 😀 \u2028 ü", strings.Repeat("x", 70)}
	ips := []any{nil, "10.0.0.1", "10.1.2.3/8", "0.0.0.0/0", "::1", "::1.2.3.4", "::ffff:1.2.3.4", "::ffff:1.2.3.4/100",
		"2001:db8::/32", "2001:db8:0:0:1:0:0:1", "1:0:0:1:0:0:0:1/77"}
	changes := []string{`{}`, `{"a": {"b": [1, 2.50, -0.0, 1e30, 1E-7, true, null, "x\"y\\z\u0001"]}, "long key": "é"}`,
		`"scalar"`, `[]`, `{"secret": {"changed": true}, "name": {"new": "N", "old": null}}`}
	for i := range 40 {
		_, err := tx.Exec(ctx, `
INSERT INTO audit_events (tenant_id, actor_type, actor_id, action, target_type, target_id, outcome,
                          flagged, flag_reason, ip, user_agent, request_id, changes)
VALUES ($1, 'user', $2, 'test.encoding', $3, $4, 'success', $5, $6, $7::inet, $8, $9, $10::jsonb)`,
			tenant, texts[i%len(texts)], texts[(i+1)%len(texts)], texts[(i+2)%len(texts)], i%2 == 0,
			texts[(i+3)%len(texts)], ips[i%len(ips)], texts[(i+4)%len(texts)], texts[(i+5)%len(texts)], changes[i%len(changes)])
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	seal(t, env.DB, tenant) // the database hashes them as it seals them

	goText, err := env.DB.GoCanonical(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := c.Query(ctx, `SELECT seq, app.audit_canonical(e) FROM audit_events e WHERE tenant_id = $1 ORDER BY seq`, tenant)
	n := 0
	for rows.Next() {
		var seq int64
		var sqlText string
		if err := rows.Scan(&seq, &sqlText); err != nil {
			t.Fatal(err)
		}
		if goText[seq] != sqlText {
			t.Errorf("event %d:\n Go  %s\n SQL %s", seq, goText[seq], sqlText)
		}
		n++
	}
	if rows.Err() != nil || n < 40 {
		t.Fatalf("%d events (%v)", n, rows.Err())
	}
	if r, err := env.DB.VerifyAuditChain(ctx, tenant); err != nil || !r.OK {
		t.Fatalf("verify: %+v, %v", r, err)
	}
}

// Go renders every address as PostgreSQL's inet output does.
func TestInetTextMatchesPostgres(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	var in []string
	for range 3000 {
		var a netip.Addr
		switch rnd.IntN(4) {
		case 0:
			a = netip.AddrFrom4([4]byte{byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32())})
		default: // IPv6 with many zero words, the hard case
			var b [16]byte
			for w := range 8 {
				if rnd.IntN(3) > 0 {
					continue
				}
				b[2*w], b[2*w+1] = byte(rnd.Uint32()), byte(rnd.Uint32())
			}
			if rnd.IntN(8) == 0 {
				b[10], b[11] = 0xff, 0xff
			}
			a = netip.AddrFrom16(b)
		}
		bits := a.BitLen()
		if rnd.IntN(3) == 0 {
			bits = rnd.IntN(a.BitLen() + 1)
		}
		in = append(in, netip.PrefixFrom(a, bits).String())
	}
	rows, err := adminConn(t, env).Query(context.Background(), `SELECT a::inet, abbrev(a::inet) FROM unnest($1::text[]) a`, in)
	if err != nil {
		t.Fatal(err)
	}
	type pair struct {
		P   netip.Prefix
		Txt string
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[pair])
	if err != nil || len(got) != len(in) {
		t.Fatal(len(got), err)
	}
	for _, g := range got {
		if s := postgres.InetText(g.P); s != g.Txt {
			t.Errorf("%v: Go %s, PostgreSQL %s", g.P, s, g.Txt)
		}
	}
}

// Verification computes each event's encoding itself: a superuser who
// changes an event and replaces app.audit_canonical so that it returns the
// event's old text for it (so the stored hash still "matches") is caught.
func TestVerifyComputesTheEncodingItself(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	tenant, _ := newTenant(t, env.DB, "pro")
	for i := range 4 {
		createWorkspace(t, env.DB, tenant, fmt.Sprint("W", i))
	}
	seal(t, env.DB, tenant)
	c := adminConn(t, env)
	var old string
	if err := c.QueryRow(ctx, `SELECT app.audit_canonical(e) FROM audit_events e WHERE tenant_id = $1 AND seq = 3`, tenant).Scan(&old); err != nil {
		t.Fatal(err)
	}
	exec(t, c, `UPDATE audit_events SET action = 'workspace.viewed' WHERE tenant_id = $1 AND seq = 3`, tenant)
	exec(t, c, fmt.Sprintf(`
CREATE OR REPLACE FUNCTION app.audit_canonical(e audit_events) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $fn$
BEGIN
    IF e.tenant_id = '%s' AND e.seq = 3 THEN
        RETURN $old$%s$old$;
    END IF;
    RETURN jsonb_build_array(
        e.tenant_id, e.seq, e.id, (extract(epoch FROM e.occurred_at) * 1000000)::bigint,
        e.actor_type, e.actor_id, e.action, e.target_type, e.target_id,
        e.outcome, e.flagged, e.flag_reason, e.ip, e.user_agent,
        e.request_id, e.changes)::text;
END
$fn$`, tenant, old))
	// The forged function vouches for the changed row...
	var vouches bool
	if err := c.QueryRow(ctx, `SELECT hash = sha256(prev_hash || convert_to(app.audit_canonical(e), 'UTF8'))
	                             FROM audit_events e WHERE tenant_id = $1 AND seq = 3`, tenant).Scan(&vouches); err != nil || !vouches {
		t.Fatalf("the replaced function does not vouch for the row (%v): the attack is not set up", err)
	}
	// ...verification does not listen.
	r, err := env.DB.VerifyAuditChain(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.BrokenSeq != 3 || !strings.Contains(r.Problem, "does not match its hash") {
		t.Fatalf("verify after a rewrite vouched for by a replaced app.audit_canonical: %+v", r)
	}
}

// A client address with a netmask is stored, returned and hashed whole: a
// superuser who changes only the mask is caught.
func TestClientIPKeepsItsNetmask(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	tenant, _ := newTenant(t, env.DB, "pro")
	err := env.DB.Audit().Record(ctx, tenantd.SystemScope(tenant, tenantd.RequestInfo{ID: "r-mask", IP: "10.1.2.3/8"}),
		tenantd.Event{Action: "request.denied", FlagReason: tenantd.FlagForeignID})
	if err != nil {
		t.Fatal(err)
	}
	items, _, err := env.DB.Audit().List(ctx, system(tenant), tenantd.AuditFilter{Action: "request.denied"})
	if err != nil || len(items) != 1 {
		t.Fatal(items, err)
	}
	if items[0].IP != "10.1.2.3/8" {
		t.Errorf("the event's ip reads %q, want 10.1.2.3/8", items[0].IP)
	}
	id := items[0].ID
	flagged, _, err := env.DB.Platform().FlaggedEvents(ctx, "", 500)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range flagged {
		if e.TenantID == tenant && e.ID == id && e.IP != "10.1.2.3/8" {
			t.Errorf("the platform view reads the ip as %q, want 10.1.2.3/8", e.IP)
		}
	}
	seal(t, env.DB, tenant)
	if r, err := env.DB.VerifyAuditChain(ctx, tenant); err != nil || !r.OK {
		t.Fatalf("verify: %+v, %v", r, err)
	}
	var seq int64
	adminConn(t, env).QueryRow(ctx, `SELECT seq FROM audit_events WHERE tenant_id = $1 AND id = $2`, tenant, id).Scan(&seq)
	for _, forged := range []string{"10.1.2.3/16", "10.1.2.3"} {
		exec(t, adminConn(t, env), `UPDATE audit_events SET ip = $2::inet WHERE tenant_id = $1 AND seq = $3`, tenant, forged, seq)
		r, err := env.DB.VerifyAuditChain(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		if r.OK || r.BrokenSeq != seq {
			t.Errorf("verify after the mask became %s: %+v", forged, r)
		}
	}
}
