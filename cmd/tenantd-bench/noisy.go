package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// The noisy-neighbour mode (-noisy) measures what one tenant's abuse costs
// another: tenant Y (the first) runs its normal mix, a point read and a
// list, first alone, then while tenant X (the second) sends ten times its
// rate limit in point reads and, on other connections, as many heavy
// requests as it can (lists of 500 workspaces, exports of its 20,000 audit
// events). Everything X sends counts against its rate limit, so what it
// gets past the limiter is its limit's worth of mixed work; the rest is
// refused with 429. Y's p99 with X ÷ Y's p99 alone is the figure (target
// ≤ 1.10). -tenant-share sets the fair share of the pool one tenant may
// hold (TENANTD_TENANT_SHARE), to compare shares.
//
// X's clients run in the same process and on the same cores as the
// server, PostgreSQL and Y's clients: part of what Y loses is the machine.

// noisyRate is X's rate limit: its flood asks ten times as much.
const noisyRate = 100

// noisyResult is the noisy mode's JSON output.
type noisyResult struct {
	Command     string         `json:"command"`
	Commit      string         `json:"commit,omitempty"`
	TenantShare int            `json:"tenant_share_connections"`
	PoolSize    int            `json:"pool_size"`
	Alone       []result       `json:"alone"`
	WithX       []result       `json:"with_noisy_neighbour"`
	XStatus     map[string]int `json:"noisy_responses"`
	XPerSec     float64        `json:"noisy_req_per_sec"`
}

func (b *bench) runNoisy(ctx context.Context) error {
	if len(b.users) < 2 {
		return fmt.Errorf("-noisy needs -tenants 2 or more")
	}
	log := func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	y, x := b.users[0], b.users[1]
	b.users = b.users[:1] // every measured request is Y's
	if err := b.makeNoisy(ctx, x); err != nil {
		return err
	}
	out := noisyResult{Command: strings.Join(append([]string{"go run ./cmd/tenantd-bench"}, os.Args[1:]...), " "),
		Commit: gitDescribe(), TenantShare: b.app.TenantShare(), PoolSize: b.cfg.conc + 4, XStatus: map[string]int{}}
	var scenarios []scenario
	for _, sc := range b.scenarios() {
		if sc.route == "GET /v1/workspaces/{id}" || sc.route == "GET /v1/workspaces" {
			scenarios = append(scenarios, sc)
		}
	}
	for _, sc := range scenarios {
		log("tenant Y alone: %s", sc.name)
		out.Alone = append(out.Alone, b.measure(ctx, sc, "alone", b.app))
	}

	nctx, stop := context.WithCancel(ctx)
	var statuses sync.Map // status -> *atomic.Int64
	var sent atomic.Int64
	var wg sync.WaitGroup
	const flooders, heavy = 16, 4
	client := &nethttp.Client{Transport: &nethttp.Transport{MaxIdleConnsPerHost: flooders + heavy, DialContext: (&net.Dialer{}).DialContext}}
	send := func(path string) {
		req, _ := nethttp.NewRequestWithContext(nctx, "GET", b.rlsURL+path, nil)
		req.Header.Set("Authorization", "Bearer "+x.token)
		res, err := client.Do(req)
		if err != nil {
			return
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		sent.Add(1)
		c, _ := statuses.LoadOrStore(fmt.Sprint(res.StatusCode), new(atomic.Int64))
		c.(*atomic.Int64).Add(1)
	}
	start := time.Now()
	for i := range flooders { // ten times X's rate, paced
		wg.Go(func() {
			t := time.NewTicker(time.Second * flooders / (10 * noisyRate))
			defer t.Stop()
			for n := i; ; n += flooders {
				select {
				case <-t.C:
				case <-nctx.Done():
					return
				}
				send("/v1/workspaces/" + x.workspaces[n%len(x.workspaces)].String())
			}
		})
	}
	for i := range heavy { // as much heavy work as X gets through
		wg.Go(func() {
			for n := i; nctx.Err() == nil; n++ {
				if n%2 == 0 {
					send("/v1/workspaces?limit=500")
				} else {
					send("/v1/audit-events/export?format=jsonl")
				}
			}
		})
	}
	time.Sleep(time.Second) // X is under way
	for _, sc := range scenarios {
		log("tenant Y with X noisy: %s", sc.name)
		out.WithX = append(out.WithX, b.measure(ctx, sc, "with X", b.app))
	}
	stop()
	wg.Wait()
	out.XPerSec = float64(sent.Load()) / time.Since(start).Seconds()
	statuses.Range(func(k, v any) bool { out.XStatus[k.(string)] = int(v.(*atomic.Int64).Load()); return true })
	_ = y

	fmt.Print(out.markdown())
	if b.cfg.jsonPath != "" {
		raw, _ := json.MarshalIndent(out, "", "  ")
		return os.WriteFile(b.cfg.jsonPath, raw, 0o644)
	}
	return nil
}

// makeNoisy gives tenant X its rate limit, 500 workspaces and 20,000 audit
// events to export, as the superuser. The events are written straight, off
// the chain (their hashes are not computed: nothing verifies this
// database), and X's chain head moved past them.
func (b *bench) makeNoisy(ctx context.Context, x *user) error {
	conn, err := pgx.Connect(ctx, b.adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, q := range []string{
			"SET LOCAL session_replication_role = replica",
			fmt.Sprintf(`UPDATE tenants SET features = features ||
				'{"api_rate_limit": {"rate": %d, "period_seconds": 1, "burst": %d}}' WHERE id = $1`, noisyRate, noisyRate),
			`INSERT INTO workspaces (tenant_id, name) SELECT $1, 'noisy ' || g FROM generate_series(1, 500) g`,
			`INSERT INTO audit_events (tenant_id, seq, actor_type, actor_id, action, target_type, target_id, outcome, request_id, prev_hash, hash)
			 SELECT $1, h.seq + g, 'user', 'bench', 'workspace.updated', 'workspace', gen_random_uuid()::text, 'success', 'noisy', '\x', '\x'
			   FROM audit_heads h, generate_series(1, 20000) g WHERE h.tenant_id = $1`,
			`UPDATE audit_heads SET seq = seq + 20000 WHERE tenant_id = $1`,
		} {
			var args []any
			if strings.Contains(q, "$1") {
				args = []any{x.tenant}
			}
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				return fmt.Errorf("%.60s: %w", q, err)
			}
		}
		return nil
	})
}

func (r noisyResult) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Command: `%s`", r.Command)
	if r.Commit != "" {
		fmt.Fprintf(&b, " at `%s`", r.Commit)
	}
	fmt.Fprintf(&b, "\nNoisy neighbour X: rate limit %d/s, point reads paced at %d/s plus 4 clients of lists (500) and exports (20,000 events); %.0f requests/s sent, responses %v. Pool %d connections, a tenant's share %d.\n\n",
		noisyRate, 10*noisyRate, r.XPerSec, r.XStatus, r.PoolSize, r.TenantShare)
	b.WriteString("| tenant Y's requests | alone req/s | alone p50 ms | alone p99 ms | with X req/s | with X p50 ms | with X p99 ms | p99 with X / alone (target ≤ 1.10) |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for i := range r.Alone {
		alone, with := r.Alone[i], r.WithX[i]
		ratio := div(with.P99ms, alone.P99ms)
		fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.2f | %.0f | %.2f | %.2f | %.2f %s |\n", alone.Scenario,
			alone.ReqPerSec, alone.P50ms, alone.P99ms, with.ReqPerSec, with.P50ms, with.P99ms, ratio, mark(ratio <= 1.10))
	}
	return b.String()
}
