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

// The flood mode (-flood N) measures what an unauthenticated login flood
// costs the tenant it targets: the tenant's own authenticated requests,
// first alone, then while N clients send it wrong passwords for its owner
// (-flood-rate attempts a second in all, or as fast as they can with 0;
// from -flood-addrs client addresses, through a trusted proxy; with the
// login throttle and rate limits in a private Redis as in production). It
// prints both p99s and their ratio (target: the flood at most doubles the
// tenant's p99), and how many audit events the flood wrote into the
// tenant's log.
//
// The flood's clients run in the same process and on the same cores as the
// server and PostgreSQL: an unpaced flood measures how the machine shares
// its cores, a paced one what the server does with each attempt.

// floodResult is the flood mode's JSON output.
type floodResult struct {
	Command      string         `json:"command"`
	Commit       string         `json:"commit,omitempty"`
	FloodClients int            `json:"flood_clients"`
	FloodAddrs   int            `json:"flood_addresses"`
	FloodRate    int            `json:"flood_rate_asked"`
	Idle         []result       `json:"idle"`
	Flooded      []result       `json:"during_flood"`
	FloodStatus  map[string]int `json:"flood_responses"`
	FloodPerSec  float64        `json:"flood_req_per_sec"`
	Events       int            `json:"tenant_audit_events_written_by_the_flood"`
}

// runFlood runs the flood mode on a set-up bench whose first user is the
// target tenant's owner.
func (b *bench) runFlood(ctx context.Context) error {
	log := func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	victim := b.users[0]
	b.users = b.users[:1] // every measured request is the target tenant's own
	var slug string
	if err := b.adminQuery(ctx, `SELECT slug FROM tenants WHERE id = $1`, []any{victim.tenant}, &slug); err != nil {
		return err
	}
	out := floodResult{Command: strings.Join(append([]string{"go run ./cmd/tenantd-bench"}, os.Args[1:]...), " "),
		Commit: gitDescribe(), FloodClients: b.cfg.flood, FloodAddrs: b.cfg.floodAddrs, FloodRate: b.cfg.floodRate, FloodStatus: map[string]int{}}
	scenarios := b.floodScenarios()
	for _, sc := range scenarios {
		log("idle: %s", sc.name)
		out.Idle = append(out.Idle, b.measure(ctx, sc, "idle", b.app))
	}
	events0, err := b.countEvents(ctx, victim)
	if err != nil {
		return err
	}

	fctx, stop := context.WithCancel(ctx)
	var statuses sync.Map // status -> *atomic.Int64
	var sent atomic.Int64
	var wg sync.WaitGroup
	client := &nethttp.Client{Transport: &nethttp.Transport{MaxIdleConnsPerHost: b.cfg.flood, DialContext: (&net.Dialer{}).DialContext}}
	body := fmt.Sprintf(`{"tenant":%q,"email":"owner@example.com","password":"not the password"}`, slug)
	start := time.Now()
	for i := range b.cfg.flood {
		wg.Go(func() {
			var pace <-chan time.Time
			if b.cfg.floodRate > 0 { // each client its share of the rate
				t := time.NewTicker(time.Duration(float64(time.Second) * float64(b.cfg.flood) / float64(b.cfg.floodRate)))
				defer t.Stop()
				pace = t.C
			}
			for n := i; fctx.Err() == nil; n += b.cfg.flood {
				if pace != nil {
					select {
					case <-pace:
					case <-fctx.Done():
						return
					}
				}
				req, _ := nethttp.NewRequestWithContext(fctx, "POST", b.rlsURL+"/v1/auth/login", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				a := n % b.cfg.floodAddrs
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.18.%d.%d", a/256%256, a%256))
				res, err := client.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				sent.Add(1)
				c, _ := statuses.LoadOrStore(fmt.Sprint(res.StatusCode), new(atomic.Int64))
				c.(*atomic.Int64).Add(1)
			}
		})
	}
	time.Sleep(time.Second) // the flood is under way
	for _, sc := range scenarios {
		log("during a flood of %d clients: %s", b.cfg.flood, sc.name)
		out.Flooded = append(out.Flooded, b.measure(ctx, sc, "login flood", b.app))
	}
	stop()
	wg.Wait()
	out.FloodPerSec = float64(sent.Load()) / time.Since(start).Seconds()
	statuses.Range(func(k, v any) bool { out.FloodStatus[k.(string)] = int(v.(*atomic.Int64).Load()); return true })
	events1, err := b.countEvents(ctx, victim)
	if err != nil {
		return err
	}
	out.Events = events1 - events0

	fmt.Print(out.markdown())
	if b.cfg.jsonPath != "" {
		raw, _ := json.MarshalIndent(out, "", "  ")
		return os.WriteFile(b.cfg.jsonPath, raw, 0o644)
	}
	return nil
}

// floodScenarios are the target tenant's own requests: a read, and a write
// (whose audit event takes the same chain head as the flood's events).
func (b *bench) floodScenarios() []scenario {
	var out []scenario
	for _, sc := range b.scenarios() {
		if sc.route == "GET /v1/workspaces/{id}" || sc.route == "PATCH /v1/workspaces/{id}" {
			out = append(out, sc)
		}
	}
	return out
}

// countEvents counts the tenant's login-failure events, as the superuser.
func (b *bench) countEvents(ctx context.Context, u *user) (int, error) {
	var n int
	err := b.adminQuery(ctx, `SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action = 'login.failed'`,
		[]any{u.tenant}, &n)
	return n, err
}

func (b *bench) adminQuery(ctx context.Context, q string, args []any, dest ...any) error {
	conn, err := pgx.Connect(ctx, b.adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, q, args...).Scan(dest...)
}

func (r floodResult) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Command: `%s`", r.Command)
	if r.Commit != "" {
		fmt.Fprintf(&b, " at `%s`", r.Commit)
	}
	asked := "as fast as they can"
	if r.FloodRate > 0 {
		asked = fmt.Sprintf("paced at %d/s", r.FloodRate)
	}
	fmt.Fprintf(&b, "\nLogin flood: %d clients %s, %d client addresses, %.0f attempts/s, responses %v; audit events the flood wrote into the tenant's log: %d\n\n",
		r.FloodClients, asked, r.FloodAddrs, r.FloodPerSec, r.FloodStatus, r.Events)
	b.WriteString("| the tenant's own requests | idle req/s | idle p50 ms | idle p99 ms | flood req/s | flood p50 ms | flood p99 ms | p99 flood / idle (target ≤ 2) |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for i := range r.Idle {
		idle, fl := r.Idle[i], r.Flooded[i]
		ratio := div(fl.P99ms, idle.P99ms)
		fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.2f | %.0f | %.2f | %.2f | %.2f %s |\n", idle.Scenario,
			idle.ReqPerSec, idle.P50ms, idle.P99ms, fl.ReqPerSec, fl.P50ms, fl.P99ms, ratio, mark(ratio <= 2))
	}
	return b.String()
}
