package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/postgres"
)

// seqOf is an event's seq as stored (0: not sealed).
func seqOf(t testing.TB, env *testenv.Env, tenant, id uuid.UUID) int64 {
	t.Helper()
	var seq *int64
	if err := adminConn(t, env).QueryRow(context.Background(),
		`SELECT seq FROM audit_events WHERE tenant_id = $1 AND id = $2`, tenant, id).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	if seq == nil {
		return 0
	}
	return *seq
}

// A write's event is readable at once, unsealed (no seq), and the sealer
// chains it; an event whose transaction commits after later events were
// sealed is sealed after them, and what was sealed never changes.
func TestSealerChainsCommittedEventsInAFixedOrder(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	tn, _ := newTenant(t, env.DB, "pro")
	seal(t, env.DB, tn)

	if err := env.DB.Audit().Record(ctx, system(tn), tenantd.Event{Action: "test.first", TargetID: "first"}); err != nil {
		t.Fatal(err)
	}
	items, _, err := env.DB.Audit().List(ctx, system(tn), tenantd.AuditFilter{TargetID: "first"})
	if err != nil || len(items) != 1 || items[0].Seq != nil {
		t.Fatalf("the unsealed event reads %+v, %v; want it with no seq", items, err)
	}
	first := items[0].ID

	// A transaction writes its event (an earlier pos) and waits while a
	// later event commits and is sealed.
	inside, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	released := sync.OnceFunc(func() { close(release) })
	defer released()
	go func() {
		done <- env.DB.InTenant(ctx, system(tn), func(tx *postgres.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO workspaces (tenant_id, name) VALUES ($1, 'late')`, tn); err != nil {
				return err
			}
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	if err := env.DB.Audit().Record(ctx, system(tn), tenantd.Event{Action: "test.second", TargetID: "second"}); err != nil {
		t.Fatal(err)
	}
	seal(t, env.DB, tn)
	var second uuid.UUID
	adminConn(t, env).QueryRow(ctx, `SELECT id FROM audit_events WHERE tenant_id = $1 AND action = 'test.second'`, tn).Scan(&second)
	s1, s2 := seqOf(t, env, tn, first), seqOf(t, env, tn, second)
	if s1 == 0 || s2 <= s1 {
		t.Fatalf("sealed seqs %d, %d; want both sealed, in the order written", s1, s2)
	}
	var hashBefore []byte
	adminConn(t, env).QueryRow(ctx, `SELECT hash FROM audit_events WHERE tenant_id = $1 AND seq = $2`, tn, s2).Scan(&hashBefore)

	released()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var late uuid.UUID
	adminConn(t, env).QueryRow(ctx, `SELECT id FROM audit_events WHERE tenant_id = $1 AND action = 'workspace.created'`, tn).Scan(&late)
	if seqOf(t, env, tn, late) != 0 {
		t.Fatal("an event was sealed before its transaction committed")
	}
	if n := seal(t, env.DB, tn); n != 1 {
		t.Fatalf("sealed %d events after the late commit, want 1", n)
	}
	if s := seqOf(t, env, tn, late); s != s2+1 {
		t.Fatalf("the late event is seq %d, want %d: after what was sealed before it committed", s, s2+1)
	}
	var hashAfter []byte
	adminConn(t, env).QueryRow(ctx, `SELECT hash FROM audit_events WHERE tenant_id = $1 AND seq = $2`, tn, s2).Scan(&hashAfter)
	if seqOf(t, env, tn, first) != s1 || seqOf(t, env, tn, second) != s2 || string(hashAfter) != string(hashBefore) {
		t.Fatal("sealing the late event changed what was sealed before")
	}
	if r, err := env.DB.VerifyAuditChain(ctx, tn); err != nil || !r.OK || r.Unsealed != 0 || r.HeadSeq != s2+1 {
		t.Fatalf("verify: %+v, %v", r, err)
	}
}

// Several instances sealing one tenant at once while its writers write:
// every event is sealed exactly once (the instances' counts add up to the
// events), seqs run 1..n, and the chain verifies.
func TestConcurrentSealersNeitherDoubleSealNorFork(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	tn, _ := newTenant(t, env.DB, "enterprise")
	const writers, writes, instances = 4, 25, 4
	var sealed atomic.Int64
	writing, stop := context.WithCancel(ctx)
	var sealers, wg sync.WaitGroup
	errs := make(chan error, writers+instances)
	for range instances {
		db, err := postgres.Open(ctx, env.AppURL, postgres.Options{MaxConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		sealers.Go(func() {
			for writing.Err() == nil {
				n, err := db.SealAudit(ctx, tn)
				if err != nil {
					errs <- err
					return
				}
				sealed.Add(n)
			}
		})
	}
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				if err := env.DB.Audit().Record(ctx, system(tn), tenantd.Event{Action: "test.write", TargetID: fmt.Sprint(w, "/", i)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	stop()
	sealers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	sealed.Add(seal(t, env.DB, tn))
	count, maxSeq, head := chainState(t, env, tn)
	if sealed.Load() != count || maxSeq != count || head != count {
		t.Fatalf("%d events, sealed %d times, max seq %d, head %d: want all equal", count, sealed.Load(), maxSeq, head)
	}
	if r, err := env.DB.VerifyAuditChain(ctx, tn); err != nil || !r.OK || r.Events != count {
		t.Fatalf("verify: %+v, %v", r, err)
	}
}

// A sealer that finds the tenant's head taken (another instance sealing)
// skips the tenant at once instead of waiting; its events stay for the
// holder or the next round.
func TestSealerSkipsATenantAnotherInstanceSeals(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	tn, _ := newTenant(t, env.DB, "pro")
	createWorkspace(t, env.DB, tn, "w")
	tx, err := adminConn(t, env).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT FROM audit_heads WHERE tenant_id = $1 FOR UPDATE`, tn); err != nil {
		t.Fatal(err)
	}
	if n := seal(t, env.DB, tn); n != 0 {
		t.Fatalf("sealed %d events under another sealer's lock", n)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := seal(t, env.DB, tn); n == 0 {
		t.Fatal("nothing sealed once the head was free")
	}
}

// Only the server seals, and only its own tenant's events; no caller can
// hand the sealer a seq or a hash.
func TestOnlyTheServerSeals(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	tn, owner := newTenant(t, env.DB, "pro")
	other, _ := newTenant(t, env.DB, "pro")
	ownerScope := tenantd.Scope{TenantID: tn, UserID: owner, Role: tenantd.RoleOwner,
		Actor: tenantd.Actor{Type: tenantd.ActorUser, ID: owner.String()}}
	for name, try := range map[string]struct {
		scope tenantd.Scope
		args  []any
	}{
		"the owner":      {ownerScope, []any{tn}},
		"another tenant": {system(other), []any{tn}},
	} {
		err := env.DB.Run(ctx, try.scope, postgres.Statement{SQL: `SELECT app.seal_audit_events($1, 10)`, Args: try.args})
		if tenantd.ErrorCode(err) != tenantd.EFORBIDDEN {
			t.Errorf("%s sealed: %v", name, err)
		}
	}
	if _, _, head := chainState(t, env, tn); head != 0 {
		t.Fatalf("the head moved to %d", head)
	}
}

// What an attacker with write access to the database can do to an event
// before it is sealed goes unnoticed: the sealer chains the event as it
// finds it (the documented window). The same change after sealing is
// caught.
func TestAnEventChangedBeforeSealingIsTheWindow(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	tn, _ := newTenant(t, env.DB, "pro")
	ws := createWorkspace(t, env.DB, tn, "w")
	c := adminConn(t, env)
	exec(t, c, `UPDATE audit_events SET target_id = 'someone-else' WHERE tenant_id = $1 AND target_id = $2`, tn, ws.String())
	seal(t, env.DB, tn)
	if r, err := env.DB.VerifyAuditChain(ctx, tn); err != nil || !r.OK {
		t.Fatalf("the window: a change before sealing is sealed as it was found, yet verify says %+v, %v", r, err)
	}
	exec(t, c, `UPDATE audit_events SET target_id = $2 WHERE tenant_id = $1 AND target_id = 'someone-else'`, tn, ws.String())
	r, err := env.DB.VerifyAuditChain(ctx, tn)
	if err != nil || r.OK || r.BrokenSeq == 0 {
		t.Fatalf("a sealed event changed back went unnoticed: %+v, %v", r, err)
	}
}

// Imports: thousands of events in one transaction are sealed in batches,
// in order, and the tenants waiting are listed for the sealer's metrics.
func TestSealerSealsLargeBacklogsInBatches(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	tn, _ := newTenant(t, env.DB, "pro")
	err := env.DB.Run(ctx, system(tn), postgres.Statement{
		SQL: `INSERT INTO audit_events (tenant_id, actor_type, action, target_type, target_id, outcome)
		      SELECT $1, 'system', 'test.imported', 'contact', g::text, 'success' FROM generate_series(1, 2500) g`,
		Args: []any{tn}})
	if err != nil {
		t.Fatal(err)
	}
	waiting, err := env.DB.UnsealedAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, u := range waiting {
		if u.TenantID == tn {
			found = u.Events >= 2500 && !u.Oldest.IsZero()
		}
	}
	if !found {
		t.Fatalf("the backlog is not listed: %+v", waiting)
	}
	if n := seal(t, env.DB, tn); n < 2500 {
		t.Fatalf("sealed %d, want the 2500 imported and the tenant's own", n)
	}
	r, err := env.DB.VerifyAuditChain(ctx, tn)
	if err != nil || !r.OK || r.Unsealed != 0 || r.Events < 2500 {
		t.Fatalf("verify: %+v, %v", r, err)
	}
	// In the order written: target ids 1..2500 in seq order.
	rows, _ := adminConn(t, env).Query(ctx, `SELECT target_id::int FROM audit_events WHERE tenant_id = $1 AND action = 'test.imported' ORDER BY seq`, tn)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil || len(ids) != 2500 {
		t.Fatal(len(ids), err)
	}
	for i, id := range ids {
		if id != i+1 {
			t.Fatalf("seq order differs from the order written at %d: %d", i, id)
		}
	}
}
