package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantd/tenantd/auth"
	api "github.com/tenantd/tenantd/http"
	"github.com/tenantd/tenantd/postgres"
	"github.com/tenantd/tenantd/ratelimit"
)

// The server in a process of its own: the same API, wired as the RLS stack
// of setup is, run by this binary with -serve, so that its memory (RSS) is
// the server's alone and not the load generator's. The parent reads the
// child's round trips from its internal listener (/trips) and its memory
// from /proc.

// childEnv names what the child needs: the application role's URL, Redis,
// the master key that seals the signing keys (base64), the pool size, a
// tenant's share of it, and the Redis key prefix.
const (
	childDB     = "TENANTD_BENCH_DB"
	childRedis  = "TENANTD_BENCH_REDIS"
	childMaster = "TENANTD_BENCH_MASTER"
	childConns  = "TENANTD_BENCH_CONNS"
	childShare  = "TENANTD_BENCH_SHARE"
	childPrefix = "TENANTD_BENCH_PREFIX"
)

// serveChild is the child's main: it prints "<api addr> <internal addr>"
// on stdout and serves until its stdin closes.
func serveChild() error {
	ctx := context.Background()
	master, err := base64.StdEncoding.DecodeString(os.Getenv(childMaster))
	if err != nil {
		return err
	}
	conns, _ := strconv.Atoi(os.Getenv(childConns))
	share, _ := strconv.ParseFloat(os.Getenv(childShare), 64)
	db, err := postgres.Open(ctx, os.Getenv(childDB), postgres.Options{MaxConns: int32(conns), TenantFraction: share})
	if err != nil {
		return err
	}
	defer db.Close()
	ring := &auth.KeyRing{Store: db.Keys(), Master: master}
	if err := ring.Refresh(ctx); err != nil {
		return err
	}
	opt, err := redis.ParseURL(os.Getenv(childRedis))
	if err != nil {
		return err
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	prefix := os.Getenv(childPrefix)
	srv := api.NewServer(api.Deps{Stores: db.Stores(), Keys: ring.Keys, Logger: slog.New(slog.DiscardHandler),
		Limiter: ratelimit.New(rdb, prefix+"rl:"), Throttle: ratelimit.NewLoginThrottle(rdb, prefix+"login:")},
		api.Config{SeparateMetrics: true})
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	internal, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := nethttp.NewServeMux()
	mux.Handle("/", srv.InternalHandler())
	mux.HandleFunc("GET /trips", func(w nethttp.ResponseWriter, _ *nethttp.Request) {
		fmt.Fprint(w, db.RoundTrips())
	})
	go (&nethttp.Server{Handler: srv.Handler()}).Serve(ln)
	go (&nethttp.Server{Handler: mux}).Serve(internal)
	fmt.Printf("%s %s\n", ln.Addr(), internal.Addr())
	io.Copy(io.Discard, os.Stdin) // until the parent goes
	return nil
}

// serverProcess is a running child.
type serverProcess struct {
	cmd      *exec.Cmd
	stdin    io.Closer
	url      string // the API
	internal string // metrics, pprof, /trips
}

// startChild starts this binary with -serve on db (a URL) and Redis.
func (b *bench) startChild(dbURL string, master []byte) (*serverProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-serve")
	cmd.Env = append(os.Environ(), childDB+"="+dbURL, childRedis+"="+b.redisURL,
		childMaster+"="+base64.StdEncoding.EncodeToString(master),
		childConns+"="+strconv.Itoa(b.cfg.conc+4), childShare+"="+strconv.FormatFloat(b.cfg.tenantShare, 'f', -1, 64),
		childPrefix+"=child:")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("server process: %w", err)
	}
	addr, internal, _ := strings.Cut(strings.TrimSpace(line), " ")
	return &serverProcess{cmd: cmd, stdin: stdin, url: "http://" + addr, internal: "http://" + internal}, nil
}

// stop ends the child (it exits when its stdin closes).
func (p *serverProcess) stop() {
	p.stdin.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// trips returns the child's database round trips so far.
func (p *serverProcess) trips() int64 {
	res, err := nethttp.Get(p.internal + "/trips")
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	n, _ := strconv.ParseInt(string(raw), 10, 64)
	return n
}

// rss returns the child's resident set now and its peak so far (kB).
func (p *serverProcess) rss() (now, peak int64) {
	path := fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)
	kb := func(name string) int64 {
		v, _, _ := strings.Cut(procField(path, name), " ")
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return kb("VmRSS"), kb("VmHWM")
}

// serverMemory is the server process's memory after the load at the large
// tenant count, with what its bounded caches held.
type serverMemory struct {
	Tenants   int            `json:"tenants"`
	RSSkB     int64          `json:"rss_kb"`
	PeakRSSkB int64          `json:"peak_rss_kb"`
	HeapBytes int64          `json:"go_heap_alloc_bytes"`
	Caches    map[string]int `json:"cache_entries"`
}

// memory reads the child's RSS from /proc and its caches and heap from its
// metrics.
func (p *serverProcess) memory(tenants int) *serverMemory {
	m := &serverMemory{Tenants: tenants, Caches: map[string]int{}}
	m.RSSkB, m.PeakRSSkB = p.rss()
	res, err := nethttp.Get(p.internal + "/metrics")
	if err != nil {
		return m
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, _ := strconv.ParseFloat(value, 64)
		switch {
		case strings.HasPrefix(name, `tenantd_cache_entries{cache="`):
			m.Caches[strings.TrimSuffix(strings.TrimPrefix(name, `tenantd_cache_entries{cache="`), `"}`)] = int(v)
		case name == "go_memstats_heap_alloc_bytes":
			m.HeapBytes = int64(v)
		}
	}
	return m
}

func (m *serverMemory) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nThe server's own memory (the RLS stack in a process of its own, after the load at %d tenants): RSS %.0f MB now, %.0f MB at its peak (target ≤ 150 MB %s); Go heap %.0f MB; cache entries:",
		m.Tenants, float64(m.RSSkB)/1024, float64(m.PeakRSSkB)/1024, mark(m.PeakRSSkB <= 150*1024), float64(m.HeapBytes)/(1<<20))
	for _, name := range []string{"token", "principal", "config"} {
		fmt.Fprintf(&b, " %s %d", name, m.Caches[name])
	}
	b.WriteString("\n")
	return b.String()
}
