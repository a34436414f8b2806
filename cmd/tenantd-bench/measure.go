package main

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	nethttp "net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantd/tenantd/postgres"
)

// result is one scenario measured one way.
type result struct {
	Scenario   string  `json:"scenario"`
	Variant    string  `json:"variant"`
	Tenants    int     `json:"tenants"`
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	ReqPerSec  float64 `json:"req_per_sec"`
	P50ms      float64 `json:"p50_ms"`
	P95ms      float64 `json:"p95_ms"`
	P99ms      float64 `json:"p99_ms"`
	TripsPerRq float64 `json:"round_trips_per_request"`
}

// target is where a measurement sends its requests: an API and its
// database round trip counter, or (base "") the ceiling's plain SQL.
type target struct {
	base  string
	trips func() int64
}

// variantOwnProcess is the RLS stack served by a process of its own
// (child.go): the variant whose p99 is compared across tenant counts and
// whose memory is the server's alone.
const variantOwnProcess = "server process, RLS"

// measure drives sc for the configured duration and concurrency: through
// the API served in this process by db, or, with db nil, as plain SQL (the
// ceiling).
func (b *bench) measure(ctx context.Context, sc scenario, variant string, db *postgres.DB) result {
	switch db {
	case nil:
		return b.measureOn(ctx, sc, variant, target{trips: ceilingTrips.Load}, true)
	case b.bypass:
		return b.measureOn(ctx, sc, variant, target{base: b.norlsURL, trips: db.RoundTrips}, true)
	default:
		return b.measureOn(ctx, sc, variant, target{base: b.rlsURL, trips: db.RoundTrips}, true)
	}
}

// measureOn drives sc against t for the configured duration and
// concurrency, each request for a tenant drawn at random, after a short
// warm-up when warm is set.
func (b *bench) measureOn(ctx context.Context, sc scenario, variant string, t target, warm bool) result {
	client := b.client()
	defer client.CloseIdleConnections()
	if warm {
		b.drive(ctx, client, sc, t, 300*time.Millisecond, nil) // warm pools, caches and connections
	}
	trips0 := t.trips()
	start := time.Now()
	lat, errs := b.drive(ctx, client, sc, t, b.cfg.duration, nil)
	return b.result(sc.name, variant, lat, errs, time.Since(start), t.trips()-trips0)
}

// firstTouch sends one GET /v1/me for every session, in order, at the
// configured concurrency: each is the first request of its session that
// the server t sees.
func (b *bench) firstTouch(ctx context.Context, t target) result {
	client := b.client()
	defer client.CloseIdleConnections()
	me := scenario{name: "first request of each session (GET /v1/me)",
		request: func(u *user, n int64) (string, string, string) { return "GET", "/v1/me", "" }}
	var next atomic.Int64
	pick := func() *user {
		if i := next.Add(1) - 1; i < int64(len(b.users)) {
			return b.users[i]
		}
		return nil
	}
	trips0 := t.trips()
	start := time.Now()
	lat, errs := b.drive(ctx, client, me, t, time.Hour, pick)
	return b.result(me.name, variantOwnProcess, lat, errs, time.Since(start), t.trips()-trips0)
}

func (b *bench) client() *nethttp.Client {
	return &nethttp.Client{Transport: &nethttp.Transport{
		MaxIdleConnsPerHost: b.cfg.conc, DialContext: (&net.Dialer{}).DialContext,
	}}
}

// drive runs the configured number of clients against t for d, or until
// pick (a random user when nil) has no user left, and returns every
// request's latency and the number that failed.
func (b *bench) drive(ctx context.Context, client *nethttp.Client, sc scenario, t target, d time.Duration, pick func() *user) (lat []time.Duration, errs int64) {
	if pick == nil {
		pick = func() *user { return b.users[rand.IntN(len(b.users))] }
	}
	one := func(u *user, n int64) bool {
		if t.base == "" {
			return sc.ceiling(ctx, b.ceiling, u, n) == nil
		}
		method, path, body := sc.request(u, n)
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := nethttp.NewRequestWithContext(ctx, method, t.base+path, rd)
		req.Header.Set("Authorization", "Bearer "+u.token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := client.Do(req)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode/100 == 2
	}
	var mu sync.Mutex
	var seq, nerr atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range b.cfg.conc {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(deadline) {
				u := pick()
				if u == nil {
					break
				}
				n := seq.Add(1)
				start := time.Now()
				if !one(u, n) {
					nerr.Add(1)
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return lat, nerr.Load()
}

// result summarises one measurement.
func (b *bench) result(name, variant string, lat []time.Duration, errs int64, elapsed time.Duration, trips int64) result {
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
	}
	reqs := int64(len(lat))
	r := result{Scenario: name, Variant: variant, Tenants: len(b.users), Requests: reqs, Errors: errs,
		ReqPerSec: float64(reqs) / elapsed.Seconds(), P50ms: pct(0.50), P95ms: pct(0.95), P99ms: pct(0.99)}
	if reqs > 0 {
		r.TripsPerRq = float64(trips) / float64(reqs)
	}
	return r
}

// ceilingTrips counts the ceiling pool's round trips the way postgres.DB
// counts its own: each read from the server that follows a write.
var ceilingTrips atomic.Int64

type countingConn struct {
	net.Conn
	wrote atomic.Bool
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.wrote.Store(true)
	return c.Conn.Write(p)
}

func (c *countingConn) Read(p []byte) (int, error) {
	if c.wrote.Swap(false) {
		ceilingTrips.Add(1)
	}
	return c.Conn.Read(p)
}
