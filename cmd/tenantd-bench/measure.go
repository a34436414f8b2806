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

// measure drives sc for the configured duration and concurrency: through
// the API served by db, or, with db nil, as plain SQL (the ceiling).
func (b *bench) measure(ctx context.Context, sc scenario, variant string, db *postgres.DB) result {
	base := b.rlsURL
	if db == b.bypass {
		base = b.norlsURL
	}
	client := &nethttp.Client{Transport: &nethttp.Transport{
		MaxIdleConnsPerHost: b.cfg.conc, DialContext: (&net.Dialer{}).DialContext,
	}}
	defer client.CloseIdleConnections()
	one := func(u *user, n int64) bool {
		if db == nil {
			return sc.ceiling(ctx, b.ceiling, u, n) == nil
		}
		method, path, body := sc.request(u, n)
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := nethttp.NewRequestWithContext(ctx, method, base+path, rd)
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
	drive := func(d time.Duration, record bool) (lat []time.Duration, reqs, errs int64) {
		var mu sync.Mutex
		var seq, nerr atomic.Int64
		deadline := time.Now().Add(d)
		var wg sync.WaitGroup
		for range b.cfg.conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				for time.Now().Before(deadline) {
					n := seq.Add(1)
					u := b.users[rand.IntN(len(b.users))]
					start := time.Now()
					if !one(u, n) {
						nerr.Add(1)
					}
					mine = append(mine, time.Since(start))
				}
				if record {
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return lat, int64(len(lat)), nerr.Load()
	}
	drive(300*time.Millisecond, false) // warm pools, caches and connections
	var trips0 int64
	if db != nil {
		trips0 = db.RoundTrips()
	} else {
		trips0 = ceilingTrips.Load()
	}
	start := time.Now()
	lat, reqs, errs := drive(b.cfg.duration, true)
	elapsed := time.Since(start)
	trips := ceilingTrips.Load() - trips0
	if db != nil {
		trips = db.RoundTrips() - trips0
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
	}
	r := result{Scenario: sc.name, Variant: variant, Tenants: len(b.users), Requests: reqs, Errors: errs,
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
