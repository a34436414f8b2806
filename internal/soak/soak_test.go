package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/auth"
	api "github.com/tenantd/tenantd/http"
	"github.com/tenantd/tenantd/internal/pgtest"
	"github.com/tenantd/tenantd/internal/testenv"
)

// PostgreSQL runs with synchronous_commit on: the fault test kills it and
// checks that no acknowledged write was lost.
func TestMain(m *testing.M) { pgtest.MainDurable(m) }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

type tenantRun struct {
	id    uuid.UUID
	token string
	mu    sync.Mutex
	ws    []uuid.UUID // acknowledged creates
}

type world struct {
	t       *testing.T
	env     *testenv.Env
	ts      *httptest.Server
	tenants []*tenantRun
	client  *http.Client

	acked     atomic.Int64 // acknowledged writes
	status5xx atomic.Int64 // 5xx other than 503
	status503 atomic.Int64
	foreign   atomic.Int64 // responses that named another tenant
}

func newWorld(t *testing.T, tenants int) *world {
	env := testenv.New(t)
	ring := &auth.KeyRing{Store: env.DB.Keys(), Master: make([]byte, auth.MasterKeySize)}
	if err := ring.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(api.Deps{Stores: env.DB.Stores(), Keys: ring.Keys, Logger: slog.New(slog.DiscardHandler)}, api.Config{})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	w := &world{t: t, env: env, ts: ts, client: &http.Client{Timeout: 15 * time.Second}}
	hash, _ := auth.HashPassword("soak-password-123")
	for i := range tenants {
		slug := fmt.Sprintf("soak-%d", i)
		tn, _, err := env.DB.Platform().CreateTenant(context.Background(), tenantd.NewTenant{Slug: slug, Name: slug, Plan: "enterprise",
			OwnerEmail: "owner@" + slug + ".example", OwnerPasswordHash: hash}, tenantd.RequestInfo{})
		if err != nil {
			t.Fatal(err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		status, body := w.call("POST", "/v1/auth/login", "", map[string]string{"tenant": slug,
			"email": "owner@" + slug + ".example", "password": "soak-password-123"})
		if status != 200 || json.Unmarshal(body, &tok) != nil {
			t.Fatalf("login %s: %d %s", slug, status, body)
		}
		w.tenants = append(w.tenants, &tenantRun{id: tn.ID, token: tok.AccessToken})
		w.raiseLimits(tn.ID)
	}
	return w
}

func (w *world) call(method, path, token string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, w.ts.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := w.client.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	switch {
	case res.StatusCode == 503:
		w.status503.Add(1)
		if res.Header.Get("Retry-After") == "" {
			w.t.Errorf("503 without Retry-After: %s %s", method, path)
		}
	case res.StatusCode >= 500:
		w.status5xx.Add(1)
		w.t.Errorf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	return res.StatusCode, b
}

// raiseLimits lifts the tenant's workspace limit and API rate limit (as an
// operator would, in the tenant's context) so that the workload measures
// writes, not 409s and 429s.
func (w *world) raiseLimits(tenant uuid.UUID) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, w.env.AdminURL)
	if err != nil {
		w.t.Fatal(err)
	}
	defer conn.Close(ctx)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL app.context = '"+tenant.String()+"'"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE tenants SET limits = '{"max_workspaces": 1000000}',
		       features = features || '{"api_rate_limit": {"rate": 100000, "period_seconds": 1, "burst": 100000}}'
		 WHERE id = $1`, tenant)
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

// step does one random operation as tenant me and checks that whatever
// came back belongs to me.
func (w *world) step(me *tenantRun) {
	others := func(b []byte) {
		for _, o := range w.tenants {
			if o != me && bytes.Contains(b, []byte(o.id.String())) {
				w.foreign.Add(1)
				w.t.Errorf("tenant %s got a response naming tenant %s: %s", me.id, o.id, b)
			}
		}
	}
	me.mu.Lock()
	var ws uuid.UUID
	if n := len(me.ws); n > 0 {
		ws = me.ws[rand.IntN(n)]
	}
	me.mu.Unlock()
	switch op := rand.IntN(10); {
	case op < 3:
		status, b := w.call("GET", "/v1/me", me.token, nil)
		others(b)
		if status == 200 && !bytes.Contains(b, []byte(me.id.String())) {
			w.t.Errorf("/v1/me of %s: %s", me.id, b)
		}
	case op < 5 || ws == uuid.Nil:
		status, b := w.call("POST", "/v1/workspaces", me.token, map[string]string{"name": "ws-" + uuid.NewString()})
		others(b)
		if status == 201 {
			var out struct{ ID uuid.UUID }
			json.Unmarshal(b, &out)
			me.mu.Lock()
			me.ws = append(me.ws, out.ID)
			me.mu.Unlock()
			w.acked.Add(1)
		}
	case op < 8:
		_, b := w.call("GET", "/v1/workspaces/"+ws.String(), me.token, nil)
		others(b)
	default:
		status, b := w.call("PATCH", "/v1/workspaces/"+ws.String(), me.token, map[string]string{"description": "soak " + uuid.NewString()})
		others(b)
		if status == 200 {
			w.acked.Add(1)
		}
	}
}

// drive runs the workload until ctx ends.
func (w *world) drive(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				w.step(w.tenants[(i+rand.IntN(len(w.tenants)))%len(w.tenants)])
			}
		}()
	}
	wg.Wait()
}

// verify checks that every acknowledged create is stored with its audit
// event in its own tenant, and that every tenant's audit chain verifies.
func (w *world) verify() {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, w.env.AdminURL)
	if err != nil {
		w.t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, tn := range w.tenants {
		for _, id := range tn.ws {
			var owner uuid.UUID
			var events int
			err := conn.QueryRow(ctx, `SELECT w.tenant_id,
			         (SELECT count(*) FROM audit_events e WHERE e.tenant_id = w.tenant_id
			             AND e.action = 'workspace.created' AND e.target_id = w.id::text)
			    FROM workspaces w WHERE w.id = $1`, id).Scan(&owner, &events)
			if err != nil || owner != tn.id || events != 1 {
				w.t.Errorf("acknowledged workspace %s of %s: owner %s, %d created events, err %v", id, tn.id, owner, events, err)
			}
		}
		if _, err := w.env.DB.SealAudit(ctx, tn.id); err != nil { // what the sealer had not sealed yet
			w.t.Errorf("seal %s: %v", tn.id, err)
		}
		res, err := w.env.DB.VerifyAuditChain(ctx, tn.id)
		if err != nil || !res.OK || res.Unsealed != 0 {
			w.t.Errorf("audit chain of %s: %+v %v", tn.id, res, err)
		}
	}
}

// A concurrent mixed-tenant workload: every response belongs to the tenant
// that asked, no 5xx, and afterwards every acknowledged write is stored
// with its audit event and every audit chain verifies.
func TestSoak(t *testing.T) {
	w := newWorld(t, envInt("TENANTS", 8))
	ctx, cancel := context.WithTimeout(context.Background(), envDuration("DURATION", 8*time.Second))
	defer cancel()
	w.drive(ctx, envInt("WORKERS", 16))
	w.verify()
	t.Logf("acknowledged writes %d, 5xx %d, 503 %d, foreign responses %d", w.acked.Load(), w.status5xx.Load(), w.status503.Load(), w.foreign.Load())
	if w.acked.Load() == 0 {
		t.Fatal("no write was acknowledged")
	}
	if w.status503.Load() != 0 {
		t.Fatalf("%d responses were 503 with a healthy database", w.status503.Load())
	}
}

// The database dies abruptly during the workload and comes back: meanwhile
// the API answers 503 with Retry-After (never 500, never a hang past the
// request timeout), it recovers by itself, and nothing acknowledged is
// lost.
func TestDatabaseCrashDuringWorkload(t *testing.T) {
	w := newWorld(t, 4)
	cluster := pgtest.Cluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.drive(ctx, 8); close(done) }()

	time.Sleep(1500 * time.Millisecond)
	if err := cluster.Kill(); err != nil {
		t.Fatal(err)
	}
	downSince := time.Now()
	time.Sleep(2 * time.Second)
	if w.status503.Load() == 0 {
		t.Error("no 503 while the database was down")
	}
	if err := cluster.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	// Recovery: a write succeeds again within seconds, by itself.
	recovered := false
	var lastStatus int
	var lastBody []byte
	for time.Since(restarted) < 20*time.Second {
		status, body := w.call("POST", "/v1/workspaces", w.tenants[0].token, map[string]string{"name": "after-" + uuid.NewString()})
		lastStatus, lastBody = status, body
		if status == 201 {
			recovered = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("down for %v, recovered %v after restart", restarted.Sub(downSince).Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))
	if !recovered {
		t.Fatalf("the API did not recover within 20 s of the database returning: last %d %s", lastStatus, lastBody)
	}
	time.Sleep(time.Second)
	cancel()
	<-done
	w.verify()
	t.Logf("acknowledged writes %d, 503 %d, other 5xx %d", w.acked.Load(), w.status503.Load(), w.status5xx.Load())
}
