package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/postgres"
)

// chainState is what the superuser sees of a tenant's log: the number of
// events, the highest seq, and the head's seq.
func chainState(t testing.TB, env *testenv.Env, tenant uuid.UUID) (count, maxSeq, head int64) {
	t.Helper()
	err := adminConn(t, env).QueryRow(context.Background(), `
SELECT (SELECT count(*) FROM audit_events WHERE tenant_id = $1),
       (SELECT coalesce(max(seq), 0) FROM audit_events WHERE tenant_id = $1),
       (SELECT seq FROM audit_heads WHERE tenant_id = $1)`, tenant).Scan(&count, &maxSeq, &head)
	if err != nil {
		t.Fatal(err)
	}
	return count, maxSeq, head
}

func countEvents(t testing.TB, env *testenv.Env, tenant uuid.UUID, action string) int {
	t.Helper()
	var n int
	err := adminConn(t, env).QueryRow(context.Background(),
		`SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action = $2`, tenant, action).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A write whose transaction fails after the write leaves neither the row
// nor its event; an event that cannot be stored takes its write down with
// it. Acknowledged writes always have their event, rolled-back ones never.
func TestRolledBackWriteLeavesNoEvent(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	a, _ := newTenant(t, env.DB, "pro")
	beforeCount, _, beforeHead := chainState(t, env, a)

	injected := errors.New("failure injected after the write, before the commit")
	err := env.DB.InTenant(ctx, system(a), func(tx *postgres.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO workspaces (tenant_id, name) VALUES ($1, 'doomed')`, a); err != nil {
			return err
		}
		var n int
		// The trigger's event exists inside the transaction...
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action = 'workspace.created'`, a).Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			t.Errorf("inside the transaction: %d workspace.created events, want 1", n)
		}
		tx.Audit(tenantd.Event{Action: "workspace.blessed", TargetType: "workspace"})
		return injected
	})
	if !errors.Is(err, injected) {
		t.Fatalf("InTenant: %v, want the injected error", err)
	}
	// ...and neither it, the explicit event nor the row survive.
	var rows int
	adminConn(t, env).QueryRow(ctx, `SELECT count(*) FROM workspaces WHERE tenant_id = $1`, a).Scan(&rows)
	if rows != 0 {
		t.Errorf("%d workspaces after the rollback", rows)
	}
	if count, _, head := chainState(t, env, a); count != beforeCount || head != beforeHead {
		t.Errorf("after the rollback: %d events, head %d; before: %d, %d", count, head, beforeCount, beforeHead)
	}

	// An explicit event the database refuses (an action that is not dotted)
	// rolls back the write it was sent with, in the same round trip.
	err = env.DB.Run(ctx, system(a), postgres.Statement{
		SQL:    `INSERT INTO workspaces (tenant_id, name) VALUES ($1, 'unrecorded')`,
		Args:   []any{a},
		Events: []tenantd.Event{{Action: "NOT AN ACTION"}},
	})
	if err == nil {
		t.Fatal("a write whose event was refused was acknowledged")
	}
	adminConn(t, env).QueryRow(ctx, `SELECT count(*) FROM workspaces WHERE tenant_id = $1`, a).Scan(&rows)
	if rows != 0 {
		t.Errorf("the write of a refused event persisted")
	}

	// The same write that commits has exactly one event.
	createWorkspace(t, env.DB, a, "kept")
	if n := countEvents(t, env, a, "workspace.created"); n != 1 {
		t.Fatalf("%d workspace.created events after a committed write, want 1", n)
	}
	seal(t, env.DB, a)
	if r, err := env.DB.VerifyAuditChain(ctx, a); err != nil || !r.OK || r.Unsealed != 0 {
		t.Fatalf("chain after rollbacks: %+v, %v", r, err)
	}
}

// Many writers in one tenant and across four, while three server
// instances seal at the same time: every chain verifies and seqs are 1..n
// with no gap and no duplicate (no event sealed twice, no fork). Each
// write is an UPDATE whose trigger records an event plus an explicit event
// in the same transaction, or an event recorded on its own.
func TestConcurrentWritersKeepChainsIntact(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	const tenants, writers, rounds = 4, 6, 15
	ids := make([]uuid.UUID, tenants)
	workspaces := make([][]uuid.UUID, tenants)
	before := make([]int64, tenants)
	for i := range ids {
		ids[i], _ = newTenant(t, env.DB, "enterprise")
		for w := range writers {
			workspaces[i] = append(workspaces[i], createWorkspace(t, env.DB, ids[i], fmt.Sprint("W", w)))
		}
		before[i], _, _ = chainState(t, env, ids[i])
	}
	var wg sync.WaitGroup
	errs := make(chan error, tenants*writers*rounds+16)
	// Three instances, each with its own pool, seal all along.
	writing, stopSealing := context.WithCancel(ctx)
	var sealers sync.WaitGroup
	var sealedByInstances atomic.Int64
	for range 3 {
		instance, err := postgres.Open(ctx, env.AppURL, postgres.Options{MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		defer instance.Close()
		sealers.Go(func() {
			for writing.Err() == nil {
				run, err := instance.SealAllAudit(ctx)
				if err != nil {
					errs <- err
					return
				}
				sealedByInstances.Add(run.Sealed)
			}
		})
	}
	for i := range tenants {
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tenant := ids[i]
				for r := range rounds {
					var err error
					switch r % 3 {
					case 0, 1: // two events: the trigger's and an explicit one
						// Every writer updates the same first workspace too on
						// even rounds, so row locks and the head lock interleave.
						ws := workspaces[i][w]
						if r%2 == 0 {
							ws = workspaces[i][0]
						}
						err = env.DB.Run(ctx, system(tenant), postgres.Statement{
							SQL:    `UPDATE workspaces SET description = $3 WHERE tenant_id = $1 AND id = $2`,
							Args:   []any{tenant, ws, fmt.Sprintf("w%d r%d", w, r)},
							Events: []tenantd.Event{{Action: "test.explicit", TargetType: "workspace", TargetID: ws.String()}},
						})
					case 2: // one event in a transaction of its own
						err = env.DB.Audit().Record(ctx, system(tenant), tenantd.Event{Action: "test.recorded"})
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	stopSealing()
	sealers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if sealedByInstances.Load() == 0 {
		t.Error("the instances sealed nothing while the writers wrote")
	}
	for _, tenant := range ids {
		seal(t, env.DB, tenant) // what the writers' last commits left
	}
	perWriter := int64(0)
	for r := range rounds {
		if r%3 == 2 {
			perWriter++
		} else {
			perWriter += 2
		}
	}
	results, err := env.DB.VerifyAllAuditChains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != tenants {
		t.Fatalf("%d results, want %d", len(results), tenants)
	}
	for i, tenant := range ids {
		count, maxSeq, head := chainState(t, env, tenant)
		if want := before[i] + writers*perWriter; count != want {
			t.Errorf("tenant %d: %d events, want %d", i, count, want)
		}
		if count != maxSeq || head != maxSeq {
			t.Errorf("tenant %d: %d events, max seq %d, head %d: gaps or duplicates", i, count, maxSeq, head)
		}
		r, err := env.DB.VerifyAuditChain(ctx, tenant)
		if err != nil || !r.OK || r.Events != count || r.Unsealed != 0 {
			t.Errorf("tenant %d: verify %+v, %v", i, r, err)
		}
	}
	for _, r := range results {
		if !r.OK {
			t.Errorf("VerifyAllAuditChains: %+v", r)
		}
	}
}

// Sealed rows changed, deleted or inserted out of band (as the superuser;
// the application role cannot) are each detected, naming the first broken
// seq; so is a seal forged on an unsealed event.
func TestAuditVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		tamper func(t *testing.T, c *pgx.Conn, tenant uuid.UUID, last int64) int64 // returns the seq verify must name
		want   string
	}{
		{"update", func(t *testing.T, c *pgx.Conn, tenant uuid.UUID, last int64) int64 {
			exec(t, c, `UPDATE audit_events SET action = 'workspace.viewed' WHERE tenant_id = $1 AND seq = 3`, tenant)
			return 3
		}, "does not match its hash"},
		{"delete in the middle", func(t *testing.T, c *pgx.Conn, tenant uuid.UUID, last int64) int64 {
			exec(t, c, `DELETE FROM audit_events WHERE tenant_id = $1 AND seq = 4`, tenant)
			return 4
		}, "missing"},
		{"delete the last", func(t *testing.T, c *pgx.Conn, tenant uuid.UUID, last int64) int64 {
			exec(t, c, `DELETE FROM audit_events WHERE tenant_id = $1 AND seq = $2`, tenant, last)
			return last
		}, "missing"},
		{"insert a sealed event", func(t *testing.T, c *pgx.Conn, tenant uuid.UUID, last int64) int64 {
			// A forger who links the row to the chain and hashes it the way
			// the sealer would: only the head gives it away.
			exec(t, c, `INSERT INTO audit_events (tenant_id, seq, actor_type, action, outcome, prev_hash, hash)
			            SELECT tenant_id, seq + 1, 'system', 'tenant.forged', 'success', hash, '\x'
			              FROM audit_events WHERE tenant_id = $1 AND seq = $2`, tenant, last)
			exec(t, c, `UPDATE audit_events e SET hash = sha256(e.prev_hash || convert_to(app.audit_canonical(e), 'UTF8'))
			             WHERE tenant_id = $1 AND seq = $2`, tenant, last+1)
			return last + 1
		}, "inserted out of band"},
		{"seal an event out of band", func(t *testing.T, c *pgx.Conn, tenant uuid.UUID, last int64) int64 {
			// A forger who seals an unsealed event (say, one they changed)
			// themselves, exactly as the sealer would, without moving the
			// head: the head gives it away, and the sealer will not seal
			// over it.
			exec(t, c, `INSERT INTO audit_events (tenant_id, actor_type, action, outcome) VALUES ($1, 'system', 'tenant.forged', 'success')`, tenant)
			exec(t, c, `UPDATE audit_events e SET seq = $2 + 1, prev_hash = h.hash, hash = '\x'
			              FROM audit_heads h WHERE h.tenant_id = e.tenant_id AND e.tenant_id = $1 AND e.seq IS NULL`, tenant, last)
			exec(t, c, `UPDATE audit_events e SET hash = sha256(e.prev_hash || convert_to(app.audit_canonical(e), 'UTF8'))
			             WHERE tenant_id = $1 AND seq = $2`, tenant, last+1)
			return last + 1
		}, "inserted out of band"},
		{"replace a row with a re-hashed one", func(t *testing.T, c *pgx.Conn, tenant uuid.UUID, last int64) int64 {
			exec(t, c, `UPDATE audit_events SET outcome = 'failed' WHERE tenant_id = $1 AND seq = 2`, tenant)
			exec(t, c, `UPDATE audit_events e SET hash = sha256(e.prev_hash || convert_to(app.audit_canonical(e), 'UTF8'))
			             WHERE tenant_id = $1 AND seq = 2`, tenant)
			return 3 // event 2 hashes right, but event 3 no longer links to it
		}, "does not link"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := testenv.New(t) // its own database: the attacks are database-wide
			ctx := context.Background()
			victim, _ := newTenant(t, env.DB, "pro")
			bystander, _ := newTenant(t, env.DB, "pro")
			for i := range 5 {
				createWorkspace(t, env.DB, victim, fmt.Sprint("V", i))
				createWorkspace(t, env.DB, bystander, fmt.Sprint("B", i))
			}
			seal(t, env.DB, victim)
			seal(t, env.DB, bystander)
			if r, err := env.DB.VerifyAuditChain(ctx, victim); err != nil || !r.OK {
				t.Fatalf("before tampering: %+v, %v", r, err)
			}
			// The application role itself cannot rewrite the log, nor seal
			// an event itself (only app.seal_audit_events does, as
			// tenantd_maint).
			for _, q := range []string{`UPDATE audit_events SET action = 'x.y' WHERE tenant_id = $1`,
				`DELETE FROM audit_events WHERE tenant_id = $1`, `UPDATE audit_heads SET seq = 0 WHERE tenant_id = $1`,
				`UPDATE audit_events SET seq = seq + 1 WHERE tenant_id = $1`,
				`INSERT INTO audit_events (tenant_id, seq, actor_type, action, outcome, prev_hash, hash)
				 VALUES ($1, 1000, 'system', 'x.y', 'success', '\x', '\x')`,
				`INSERT INTO audit_events (tenant_id, actor_type, action, outcome, occurred_at)
				 VALUES ($1, 'system', 'x.y', 'success', '2000-01-01')`} {
				if err := env.DB.Run(ctx, system(victim), postgres.Statement{SQL: q, Args: []any{victim}}); tenantd.ErrorCode(err) != tenantd.EFORBIDDEN {
					t.Errorf("the application ran %q: %v", q, err)
				}
			}
			_, last, _ := chainState(t, env, victim)
			want := tc.tamper(t, adminConn(t, env), victim, last)

			r, err := env.DB.VerifyAuditChain(ctx, victim)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK || r.BrokenSeq != want || !strings.Contains(r.Problem, tc.want) {
				t.Fatalf("verify after %s: %+v, want first broken seq %d (%q)", tc.name, r, want, tc.want)
			}
			results, err := env.DB.VerifyAuditChains(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			report, ok := postgres.FormatVerify(results)
			if ok || !strings.Contains(report, fmt.Sprintf("first broken event is seq %d", want)) || !strings.Contains(report, "1 broken") {
				t.Fatalf("report (ok=%v):\n%s", ok, report)
			}
			for _, r := range results {
				if r.TenantID == bystander && !r.OK {
					t.Fatalf("the bystander's untouched chain fails: %+v", r)
				}
			}
		})
	}
}

func exec(t testing.TB, c *pgx.Conn, q string, args ...any) {
	t.Helper()
	if _, err := c.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// recordEvents gives a tenant events with distinct actions, actors and
// targets, and returns them oldest first as stored.
func recordEvents(t testing.TB, db *postgres.DB, tenant uuid.UUID, n int) {
	t.Helper()
	for i := range n {
		e := tenantd.Event{Action: []string{"refresh_token.denied", "refresh_token.reused", "introspection.denied"}[i%3],
			Actor:      tenantd.Actor{Type: tenantd.ActorUser, ID: fmt.Sprint("actor-", i%2)},
			TargetType: "thing", TargetID: fmt.Sprint("thing-", i%4)}
		if i%5 == 0 {
			e.FlagReason = tenantd.FlagForeignID
			e.Outcome = tenantd.OutcomeDenied
		}
		if err := db.Audit().Record(context.Background(), system(tenant), e); err != nil {
			t.Fatal(err)
		}
	}
}

// Filters and keyset pages: every page is newest first, pages neither
// overlap nor skip, each filter selects exactly what the superuser counts,
// and every read costs one round trip and leaves an audit.queried event.
func TestListAuditEventsFiltersAndPages(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	a, _ := newTenant(t, env.DB, "pro")
	b, _ := newTenant(t, env.DB, "pro")
	recordEvents(t, env.DB, a, 23)
	recordEvents(t, env.DB, b, 7)
	var ids []uuid.UUID
	cursor := ""
	// One connection, warmed up: the first run of a statement on a
	// connection prepares it (one extra round trip, once).
	one, err := postgres.Open(ctx, env.AppURL, postgres.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	for range 2 {
		if _, _, err := one.Audit().List(ctx, system(a), tenantd.AuditFilter{Limit: 4, Action: "refresh_token.*"}); err != nil {
			t.Fatal(err)
		}
	}
	for page := 0; ; page++ {
		trips := one.RoundTrips()
		items, next, err := one.Audit().List(ctx, system(a), tenantd.AuditFilter{Limit: 4, Cursor: cursor, Action: "refresh_token.*"})
		if err != nil {
			t.Fatal(err)
		}
		if d := one.RoundTrips() - trips; d != 1 {
			t.Errorf("page %d took %d round trips, want 1", page, d)
		}
		for _, e := range items {
			if e.TenantID != a || (e.Action != "refresh_token.denied" && e.Action != "refresh_token.reused") {
				t.Fatalf("page %d has %+v", page, e)
			}
			ids = append(ids, e.ID)
		}
		if next == "" {
			break
		}
		if len(items) != 4 {
			t.Fatalf("page %d has %d items and a next cursor", page, len(items))
		}
		cursor = next
	}
	rows, _ := adminConn(t, env).Query(ctx, `SELECT id FROM audit_events WHERE tenant_id = $1 AND action LIKE 'refresh\_token.%' ORDER BY pos DESC`, a)
	stored, _ := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if len(stored) == 0 || !slices.Equal(ids, stored) {
		t.Fatalf("paged %v, stored %v", ids, stored)
	}

	yes := true
	mid := time.Now()
	cases := map[string]struct {
		f     tenantd.AuditFilter
		where string
		args  []any
	}{
		"action":      {tenantd.AuditFilter{Action: "refresh_token.reused"}, `action = $2`, []any{"refresh_token.reused"}},
		"prefix":      {tenantd.AuditFilter{Action: "introspection.*"}, `action LIKE $2`, []any{"introspection.%"}},
		"actor":       {tenantd.AuditFilter{ActorID: "actor-1"}, `actor_id = $2`, []any{"actor-1"}},
		"target_type": {tenantd.AuditFilter{TargetType: "thing"}, `target_type = $2`, []any{"thing"}},
		"target_id":   {tenantd.AuditFilter{TargetID: "thing-3"}, `target_id = $2`, []any{"thing-3"}},
		"flagged":     {tenantd.AuditFilter{Flagged: &yes}, `flagged = $2`, []any{true}},
		"until":       {tenantd.AuditFilter{Until: &mid}, `occurred_at < $2`, []any{mid}},
		"since":       {tenantd.AuditFilter{Since: &mid}, `occurred_at >= $2`, []any{mid}},
		"combined":    {tenantd.AuditFilter{Action: "refresh_token.denied", TargetID: "thing-0", Flagged: &yes}, `action = $2 AND target_id = $3 AND flagged`, []any{"refresh_token.denied", "thing-0"}},
	}
	recordEvents(t, env.DB, a, 3) // after mid
	for name, c := range cases {
		items, _, err := env.DB.Audit().List(ctx, system(a), tenantd.AuditFilter{Limit: 500, Action: c.f.Action,
			ActorID: c.f.ActorID, TargetType: c.f.TargetType, TargetID: c.f.TargetID, Flagged: c.f.Flagged, Since: c.f.Since, Until: c.f.Until})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Only events before this query: the queries' own events come after.
		var n int
		adminConn(t, env).QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action <> 'audit.queried' AND `+c.where,
			append([]any{a}, c.args...)...).Scan(&n)
		got := 0
		for _, e := range items {
			if e.Action != "audit.queried" {
				got++
			}
		}
		if got != n || n == 0 {
			t.Errorf("%s: %d events, the superuser counts %d", name, got, n)
		}
	}
	if n := countEvents(t, env, b, "audit.queried"); n != 0 {
		t.Errorf("tenant A's queries left %d events in B's log", n)
	}
	if n := countEvents(t, env, a, "audit.queried"); n < len(cases) {
		t.Errorf("%d audit.queried events, want at least %d", n, len(cases))
	}

	for name, f := range map[string]tenantd.AuditFilter{
		"negative limit":   {Limit: -1},
		"huge limit":       {Limit: 501},
		"garbage cursor":   {Cursor: "garbage!"},
		"json cursor":      {Cursor: "eyJiZWZvcmUiOjB9"},            // {"before":0}
		"extra field":      {Cursor: "eyJiZWZvcmUiOjEsInQiOiJ4In0"}, // {"before":1,"t":"x"}
		"not an action":    {Action: "DROP TABLE"},
		"control in actor": {ActorID: "a\nb"},
		"since after":      {Since: &mid, Until: ptr(mid.Add(-time.Second))},
	} {
		if _, _, err := env.DB.Audit().List(ctx, system(a), f); tenantd.ErrorCode(err) != tenantd.EBADREQUEST {
			t.Errorf("%s: %v, want bad request", name, err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// A cursor taken from another tenant's listing selects only the caller's
// events; members, whom the handler refuses anyway, read nothing.
func TestAuditReadsStayInTheTenant(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	a, _ := newTenant(t, env.DB, "pro")
	b, _ := newTenant(t, env.DB, "pro")
	recordEvents(t, env.DB, a, 40)
	recordEvents(t, env.DB, b, 3)

	_, cursor, err := env.DB.Audit().List(ctx, system(a), tenantd.AuditFilter{Limit: 2})
	if err != nil || cursor == "" {
		t.Fatal(cursor, err)
	}
	items, _, err := env.DB.Audit().List(ctx, system(b), tenantd.AuditFilter{Cursor: cursor, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) == 0 {
		t.Fatal("B's own events are hidden behind A's cursor")
	}
	for _, e := range items {
		if e.TenantID != b {
			t.Fatalf("B read an event of %s", e.TenantID)
		}
	}
	exported := 0
	err = env.DB.Audit().Export(ctx, system(b), tenantd.AuditFilter{}, func(e tenantd.AuditEvent) error {
		if e.TenantID != b {
			t.Fatalf("B exported an event of %s", e.TenantID)
		}
		exported++
		return nil
	})
	if err != nil || exported == 0 {
		t.Fatal(exported, err)
	}

	var member uuid.UUID
	err = env.DB.Run(ctx, system(a), postgres.Statement{
		SQL:  `INSERT INTO users (tenant_id, email, role) VALUES ($1, 'member@example.com', 'member') RETURNING id`,
		Args: []any{a},
		Scan: func(r pgx.Rows) error { r.Next(); return r.Scan(&member) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ms := tenantd.Scope{TenantID: a, UserID: member, Role: tenantd.RoleMember,
		Actor: tenantd.Actor{Type: tenantd.ActorUser, ID: member.String()}}
	items, _, err = env.DB.Audit().List(ctx, ms, tenantd.AuditFilter{})
	if err != nil || len(items) != 0 {
		t.Fatalf("a member read %d events (%v)", len(items), err)
	}
	if n := countEvents(t, env, a, "audit.queried"); n < 2 {
		t.Fatalf("the member's query was not recorded (%d audit.queried events)", n)
	}
}

// Exports stream oldest first and are recorded: a complete one in its own
// transaction, one cut short as a failed export with the count sent.
func TestExportAuditEvents(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	a, _ := newTenant(t, env.DB, "pro")
	recordEvents(t, env.DB, a, 10)
	seal(t, env.DB, a)
	createWorkspace(t, env.DB, a, "unsealed") // the newest event: not sealed yet
	count, _, _ := chainState(t, env, a)

	var seqs []int64
	err := env.DB.Audit().Export(ctx, system(a), tenantd.AuditFilter{Format: "csv"}, func(e tenantd.AuditEvent) error {
		switch {
		case e.Seq != nil:
			seqs = append(seqs, *e.Seq)
		case e.Action != "workspace.created":
			t.Errorf("unsealed %+v", e)
		default:
			seqs = append(seqs, 0)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Oldest first: the sealed events in their chain's order, then the
	// unsealed one.
	if int64(len(seqs)) != count || !slices.IsSorted(seqs[:count-1]) || seqs[0] != 1 || seqs[count-1] != 0 {
		t.Fatalf("exported seqs %v, want 1..%d then an unsealed event", seqs, count-1)
	}
	var changes map[string]any
	var outcome string
	adminConn(t, env).QueryRow(ctx, `SELECT changes, outcome FROM audit_events WHERE tenant_id = $1 AND action = 'audit.exported'`, a).
		Scan(&changes, &outcome)
	if outcome != "success" || changes["events"] != float64(count) || changes["format"] != "csv" {
		t.Fatalf("audit.exported: %s %v", outcome, changes)
	}

	gone := errors.New("client went away")
	sent := 0
	err = env.DB.Audit().Export(ctx, system(a), tenantd.AuditFilter{}, func(e tenantd.AuditEvent) error {
		if sent == 3 {
			return gone
		}
		sent++
		return nil
	})
	if !errors.Is(err, gone) {
		t.Fatalf("cut-short export: %v", err)
	}
	adminConn(t, env).QueryRow(ctx, `SELECT changes, outcome FROM audit_events WHERE tenant_id = $1 AND action = 'audit.exported' ORDER BY pos DESC LIMIT 1`, a).
		Scan(&changes, &outcome)
	if outcome != "failed" || changes["events"] != float64(3) {
		t.Fatalf("the cut-short export is recorded as %s %v", outcome, changes)
	}
	if n := countEvents(t, env, a, "audit.exported"); n != 2 {
		t.Fatalf("%d audit.exported events, want 2", n)
	}
}

// The platform view pages flagged events of every tenant on the whole key,
// so events that share a timestamp are neither skipped nor repeated.
func TestFlaggedEventsPageAcrossTenants(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	want := map[string]bool{}
	for range 3 {
		tn, _ := newTenant(t, env.DB, "pro")
		recordEvents(t, env.DB, tn, 15) // 3 flagged each
		rows, _ := adminConn(t, env).Query(ctx, `SELECT id FROM audit_events WHERE tenant_id = $1 AND flagged`, tn)
		ids, _ := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		for _, id := range ids {
			want[fmt.Sprint(tn, "/", id)] = true
		}
	}
	// The same instant for all of them: the worst case for a time cursor.
	exec(t, adminConn(t, env), `UPDATE audit_events SET occurred_at = '2030-01-01T00:00:00Z' WHERE flagged`)

	got := map[string]bool{}
	cursor := ""
	for page := 0; page < 20; page++ {
		items, next, err := env.DB.Platform().FlaggedEvents(ctx, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range items {
			key := fmt.Sprint(e.TenantID, "/", e.ID)
			if got[key] || !e.Flagged || e.FlagReason != tenantd.FlagForeignID || e.TenantSlug == "" {
				t.Fatalf("page %d: repeated or wrong %+v", page, e)
			}
			got[key] = true
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(got) != len(want) {
		t.Fatalf("paged %d flagged events, want %d", len(got), len(want))
	}

	for i := range 5 {
		env.DB.Identity().RecordSecurityEvent(ctx, tenantd.ActionRequestDenied, fmt.Sprint("reason ", i), tenantd.RequestInfo{ID: fmt.Sprint("r", i), IP: "192.0.2.1"})
	}
	var ids []int64
	cursor = ""
	for {
		items, next, err := env.DB.Platform().UnattributedSecurityEvents(ctx, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range items {
			if e.IP != "192.0.2.1" {
				t.Fatalf("security event %+v", e)
			}
			ids = append(ids, e.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(ids) != 5 || !slices.IsSortedFunc(ids, func(x, y int64) int { return int(y - x) }) {
		t.Fatalf("unattributed ids %v", ids)
	}
	if _, _, err := env.DB.Platform().FlaggedEvents(ctx, "eyJiZWZvcmUiOjF9", 2); tenantd.ErrorCode(err) != tenantd.EBADREQUEST {
		t.Fatalf("a security-events cursor as a flagged cursor: %v", err)
	}
}

// A platform flag marks an event for the platform's security view only: the
// tenant's own log has it unflagged, and the application role cannot read
// the flag. Every way an event is recorded (on its own, with a statement,
// at a transaction's commit) keeps the flag with the right event.
func TestPlatformFlagsOnlyThePlatformReads(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	tn, _ := newTenant(t, env.DB, "pro")
	flag := func(target string) tenantd.Event {
		return tenantd.Event{Action: tenantd.ActionRequestDenied, Outcome: tenantd.OutcomeDenied, TargetType: "workspace",
			TargetID: target, PlatformFlag: tenantd.FlagForeignID}
	}
	plain := tenantd.Event{Action: "test.plain"}
	if err := env.DB.Audit().Record(ctx, system(tn), flag("recorded")); err != nil {
		t.Fatal(err)
	}
	if err := env.DB.Run(ctx, system(tn), postgres.Statement{SQL: `SELECT 1`,
		Events: []tenantd.Event{plain, flag("run"), plain}}); err != nil {
		t.Fatal(err)
	}
	if err := env.DB.InTenant(ctx, system(tn), func(tx *postgres.Tx) error {
		tx.Audit(flag("committed"))
		tx.Audit(plain)
		_, err := tx.Exec(ctx, `SELECT 1`)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	items, _, err := env.DB.Audit().List(ctx, system(tn), tenantd.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range items {
		if e.Flagged || e.FlagReason != "" {
			t.Errorf("the tenant's log shows a platform flag: %+v", e)
		}
	}
	var view []string
	flagged, _, err := env.DB.Platform().FlaggedEvents(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range flagged {
		if e.TenantID == tn {
			if !e.Flagged || e.FlagReason != tenantd.FlagForeignID || e.Action != tenantd.ActionRequestDenied {
				t.Errorf("the security view: %+v", e)
			}
			view = append(view, e.Target.ID)
		}
	}
	slices.Sort(view)
	if want := []string{"committed", "recorded", "run"}; !slices.Equal(view, want) {
		t.Errorf("the security view flags %v, want %v", view, want)
	}
	err = env.DB.InTenant(ctx, system(tn), func(tx *postgres.Tx) error {
		_, err := tx.Exec(ctx, `SELECT count(*) FROM platform_flags`)
		return err
	})
	if tenantd.ErrorCode(err) != tenantd.EFORBIDDEN {
		t.Errorf("the application role reads platform flags: %v", err)
	}

	// A purge of the oldest events takes their flags with them.
	keepAuditDays(t, env, tn, 0)
	seal(t, env.DB, tn)
	var last int64
	adminConn(t, env).QueryRow(ctx, `SELECT max(e.seq) FROM platform_flags f JOIN audit_events e USING (tenant_id, pos)
	                                   WHERE tenant_id = $1`, tn).Scan(&last)
	if _, err := env.DB.PurgeAuditBefore(ctx, tn, postgres.PurgeBefore{Seq: last + 1},
		func(context.Context, tenantd.ChainPoint) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var left int
	adminConn(t, env).QueryRow(ctx, `SELECT count(*) FROM platform_flags WHERE tenant_id = $1`, tn).Scan(&left)
	if left != 0 {
		t.Errorf("%d platform flags outlive their purged events", left)
	}
}
