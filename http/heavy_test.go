package http_test

import (
	"context"
	"fmt"
	"net"
	nethttp "net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// addEvents gives a tenant n more audit events, written straight as the
// superuser (off the chain: nothing here verifies it).
func (a *app) addEvents(tenant uuid.UUID, n int) {
	a.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, a.env.AdminURL)
	if err != nil {
		a.t.Fatal(err)
	}
	defer conn.Close(ctx)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, q := range []string{
			"SET LOCAL session_replication_role = replica",
			`INSERT INTO audit_events (tenant_id, seq, actor_type, actor_id, action, target_type, target_id, outcome, request_id)
			 SELECT $1, h.seq + g, 'user', 'test', 'workspace.updated', 'workspace', gen_random_uuid()::text, 'success', 'test'
			   FROM audit_heads h, generate_series(1, $2::int) g WHERE h.tenant_id = $1`,
			`UPDATE audit_heads SET seq = seq + $2::int WHERE tenant_id = $1`,
		} {
			args := []any{tenant, n}
			if !strings.Contains(q, "$1") {
				args = nil
			}
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		a.t.Fatal(err)
	}
}

// setRateLimit overrides a tenant's API rate limit, as an operator would.
func (a *app) setRateLimit(tenant uuid.UUID, rate, periodSeconds, burst int) {
	a.t.Helper()
	a.sql(fmt.Sprintf(`UPDATE tenants SET features = features ||
		'{"api_rate_limit": {"rate": %d, "period_seconds": %d, "burst": %d}}' WHERE id = $1`, rate, periodSeconds, burst), tenant)
}

// startExport sends an export request and returns its response without
// reading the body: the server blocks once the connection's buffers are
// full (the client's receive buffer is kept small), holding the export
// open.
func (a *app) startExport(ctx context.Context, token string) *nethttp.Response {
	a.t.Helper()
	req, _ := nethttp.NewRequestWithContext(ctx, "GET", a.ts.URL+"/v1/audit-events/export?format=jsonl", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return err
	}}
	client := &nethttp.Client{Transport: &nethttp.Transport{DisableKeepAlives: true, DialContext: dialer.DialContext}}
	res, err := client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	return res
}

// A tenant runs at most two exports at once: a third is refused with 429
// and Retry-After, before it reaches the database, while another tenant's
// export goes ahead; once one of the first ends, the tenant may start
// another.
func TestHeavyRequestsAreCappedPerTenant(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	noisy, other := a.newTenant("enterprise"), a.newTenant("enterprise")
	a.setRateLimit(noisy.ID, 1_000_000, 1, 1_000_000) // the cap, not the rate limit, is under test
	// More than the connections' buffers hold, so the exports block.
	a.addEvents(noisy.ID, 20_000)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var held []*nethttp.Response
	for range 2 {
		res := a.startExport(ctx, noisy.Token)
		if res.StatusCode != 200 {
			t.Fatalf("export within the cap: %d", res.StatusCode)
		}
		held = append(held, res)
	}
	third := a.do("GET", "/v1/audit-events/export?format=jsonl", noisy.Token, nil)
	if third.Status != 429 || third.Header.Get("Retry-After") == "" || !strings.Contains(string(third.Body), "exports at once") {
		t.Fatalf("a third export at once: %d, Retry-After %q, %.300s; want 429 with Retry-After",
			third.Status, third.Header.Get("Retry-After"), third.Body)
	}
	if res := a.do("GET", "/v1/audit-events/export?format=jsonl", other.Token, nil); res.Status != 200 {
		t.Errorf("another tenant's export meanwhile: %d, want 200", res.Status)
	}
	if res := a.do("GET", "/v1/me", noisy.Token, nil); res.Status != 200 {
		t.Errorf("the tenant's other requests meanwhile: %d, want 200", res.Status)
	}

	// One export ends (its client goes): a new one is admitted.
	held[0].Body.Close()
	for deadline := time.Now().Add(30 * time.Second); ; {
		res := a.startExport(ctx, noisy.Token)
		res.Body.Close()
		if res.StatusCode == 200 {
			break
		}
		if res.StatusCode != 429 || time.Now().After(deadline) {
			t.Fatalf("an export after one ended: %d", res.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	held[1].Body.Close()
}

// An export draws on the tenant's rate limit by the rows it sends (one
// request's worth per hundred), not as one request: with a burst of two,
// an export of 150 events leaves nothing for the next request; an export
// longer than the budget waits for it and arrives whole.
func TestExportsAreChargedByRows(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("enterprise")
	a.addEvents(tn.ID, 150)           // and the few of its creation: under 200
	a.setRateLimit(tn.ID, 1, 3600, 2) // a burst of two, then one an hour
	res := a.do("GET", "/v1/audit-events/export?format=jsonl", tn.Token, nil)
	if res.Status != 200 {
		t.Fatalf("export: %d %.200s", res.Status, res.Body)
	}
	if n := strings.Count(string(res.Body), "\n"); n < 150 || n >= 200 {
		t.Fatalf("export: %d lines, want 150 to 199", n)
	}
	// The export took two: itself, and one for its first hundred rows.
	if res := a.do("GET", "/v1/me", tn.Token, nil); res.Status != 429 {
		t.Errorf("a request after an export of 150 rows with a burst of 2: %d, want 429 (rows are charged)", res.Status)
	}

	// A budget that refills fast: an export three times the burst waits for
	// it and is complete.
	paced := a.newTenant("enterprise")
	a.addEvents(paced.ID, 500)
	a.setRateLimit(paced.ID, 20, 1, 2)
	res = a.do("GET", "/v1/audit-events/export?format=jsonl", paced.Token, nil)
	if res.Status != 200 {
		t.Fatalf("paced export: %d %.200s", res.Status, res.Body)
	}
	if n := strings.Count(string(res.Body), "\n"); n < 500 {
		t.Errorf("paced export: %d lines, want at least 500", n)
	}
}
