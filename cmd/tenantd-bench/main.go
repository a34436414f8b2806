// Command tenantd-bench is the load benchmark of BENCHMARKS.md: it starts a
// private PostgreSQL cluster (fsync off: this measures tenantd, not the
// disk), provisions tenants with data, serves the real API in-process and
// drives authenticated requests at a fixed concurrency for a fixed time. In
// the same run, against the same data, it measures the ceiling (the same SQL
// through plain pgx), the full stack with RLS bypassed, round trips per
// request, p99 at a small and a large tenant count, and peak memory.
//
//	go run ./cmd/tenantd-bench -tenants 10 -tenants-large 100000 -duration 5s -c 16 -json bench.json
//
// With -flood N it measures instead what a login flood costs the tenant it
// targets (flood.go); with -noisy, what a tenant flooding at ten times its
// rate limit with heavy requests costs another (noisy.go).
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/auth"
	api "github.com/tenantd/tenantd/http"
	"github.com/tenantd/tenantd/internal/pgcluster"
	"github.com/tenantd/tenantd/internal/redisproc"
	"github.com/tenantd/tenantd/postgres"
	"github.com/tenantd/tenantd/ratelimit"
)

type config struct {
	tenants, tenantsLarge, workspaces, conc int
	duration                                time.Duration
	jsonPath                                string
	flood, floodAddrs, floodRate            int
	outside, scenarios, noisy               bool
	profileDir                              string
	tenantShare                             float64
}

func main() {
	var c config
	flag.IntVar(&c.tenants, "tenants", 10, "tenants of the small run")
	flag.IntVar(&c.tenantsLarge, "tenants-large", 1000, "tenants of the large run, provisioned in bulk (100000 take a minute or two)")
	flag.IntVar(&c.workspaces, "workspaces", 20, "workspaces per tenant")
	flag.IntVar(&c.conc, "c", 16, "concurrent clients")
	flag.DurationVar(&c.duration, "duration", 5*time.Second, "duration of each measurement")
	flag.StringVar(&c.jsonPath, "json", "", "write the results as JSON to this file")
	flag.IntVar(&c.flood, "flood", 0, "instead: the first tenant's own p99, idle and during a flood of wrong-password logins by this many clients")
	flag.IntVar(&c.floodAddrs, "flood-addrs", 1, "client addresses the login flood comes from")
	flag.IntVar(&c.floodRate, "flood-rate", 0, "login attempts per second of the whole flood; 0: as fast as its clients can")
	flag.BoolVar(&c.outside, "outside", true, "measure the point read from outside too: pgbench (plain select, the door's transaction) and wrk against the API, with a CPU profile of the server")
	flag.BoolVar(&c.scenarios, "scenarios", true, "run the in-process scenarios (false: the outside measurement only)")
	flag.StringVar(&c.profileDir, "profile-dir", os.TempDir(), "where the CPU profile of the server under wrk is written")
	flag.BoolVar(&c.noisy, "noisy", false, "instead: the first tenant's p99 alone and while the second floods at ten times its rate limit and sends heavy lists and exports (noisy.go)")
	flag.Float64Var(&c.tenantShare, "tenant-share", 0, "the fraction of the pool one tenant may hold (TENANTD_TENANT_SHARE); 0: the default")
	serve := flag.Bool("serve", false, "internal: serve the API for the parent bench, in a process of its own (child.go)")
	flag.Parse()
	if *serve {
		if err := serveChild(); err != nil {
			fmt.Fprintln(os.Stderr, "tenantd-bench -serve:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, "tenantd-bench:", err)
		os.Exit(1)
	}
}

// bench is the running system under measurement.
type bench struct {
	cfg      config
	adminURL string
	app      *postgres.DB // as the application role: RLS applies
	bypass   *postgres.DB // as a BYPASSRLS role: the no-RLS baseline
	ceiling  *pgxpool.Pool
	rls      *nethttp.Server
	norls    *nethttp.Server
	rlsURL   string
	norlsURL string
	routes   map[string]bool
	issuer   *auth.Issuer
	users    []*user

	servers   []*api.Server
	rlsDeps   api.Deps // the RLS stack's server's, for variants of it
	redis     *redis.Client
	redisURL  string
	stopRedis func()
	master    []byte
	child     *serverProcess // the RLS stack in a process of its own
}

// user is one tenant's logged-in owner and its data.
type user struct {
	tenant, id uuid.UUID
	token      string
	workspaces []uuid.UUID
}

func run(ctx context.Context, cfg config) error {
	dir, err := os.MkdirTemp("", "tenantd-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil { // as root, PostgreSQL runs as postgres
		return err
	}
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: dir, Settings: map[string]string{
		"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "300",
	}})
	if err != nil {
		return err
	}
	defer cluster.Stop(context.Background())

	b := &bench{cfg: cfg, adminURL: cluster.SuperuserURL("postgres")}
	if err := b.setup(ctx); err != nil {
		return err
	}
	defer b.close()

	log := func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	log("provisioning %d tenants × %d workspaces", cfg.tenants, cfg.workspaces)
	if err := b.provision(ctx, cfg.tenants, true); err != nil {
		return err
	}
	if cfg.flood > 0 {
		return b.runFlood(ctx)
	}
	if cfg.noisy {
		return b.runNoisy(ctx)
	}
	var results []result
	var out *outside
	if cfg.outside {
		log("outside measurement: pgbench and wrk")
		if out, err = b.measureOutside(ctx, dir); err != nil {
			return err
		}
	}
	var mem *serverMemory
	if cfg.scenarios {
		if b.child, err = b.startChild(postgres.WithUser(b.adminURL, "tenantd_bench_app"), b.master); err != nil {
			return err
		}
		own := target{base: b.child.url, trips: b.child.trips}
		for _, sc := range b.scenarios() {
			log("scenario %s at %d tenants", sc.name, len(b.users))
			results = append(results,
				b.measure(ctx, sc, "ceiling (pgx)", nil),
				b.measure(ctx, sc, "full stack, no RLS", b.bypass),
				b.measure(ctx, sc, "full stack, RLS", b.app),
				b.measureOn(ctx, sc, variantOwnProcess, own, true))
		}
		log("provisioning up to %d tenants, in bulk", cfg.tenantsLarge)
		if err := b.provisionBulk(ctx, cfg.tenantsLarge); err != nil {
			return err
		}
		// Every session's first request, once: the caches of the server
		// fill as they would over the first minutes of a busy day. The
		// figures of this pass are reported as they are (first touch).
		log("first request of each of %d sessions", len(b.users))
		results = append(results, b.firstTouch(ctx, own))
		for _, sc := range b.scenarios() {
			log("scenario %s at %d tenants", sc.name, len(b.users))
			results = append(results, b.measureOn(ctx, sc, variantOwnProcess, own, true))
		}
		mem = b.child.memory(len(b.users))
	}
	rep := report(cfg, results)
	rep.Outside, rep.ServerMemory = out, mem
	fmt.Print(rep.markdown())
	if cfg.jsonPath != "" {
		raw, _ := json.MarshalIndent(rep, "", "  ")
		return os.WriteFile(cfg.jsonPath, raw, 0o644)
	}
	return nil
}

// setup creates the database, migrates it, makes the roles, opens both
// stacks and starts both servers on loopback ports.
func (b *bench) setup(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, b.adminURL)
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE tenantd_bench"); err != nil {
		return err
	}
	conn.Close(ctx)
	b.adminURL = strings.Replace(b.adminURL, "/postgres?", "/tenantd_bench?", 1)
	if err := postgres.Migrate(ctx, b.adminURL, nil); err != nil {
		return err
	}
	if err := postgres.EnsureLoginRole(ctx, b.adminURL, "tenantd_bench_app", ""); err != nil {
		return err
	}
	if conn, err = pgx.Connect(ctx, b.adminURL); err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		"CREATE ROLE tenantd_bench_bypass LOGIN BYPASSRLS IN ROLE tenantd_app",
		"ALTER ROLE tenantd_bench_bypass SET citus.propagate_set_commands = 'local'",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	opts := postgres.Options{MaxConns: int32(b.cfg.conc) + 4, TenantFraction: b.cfg.tenantShare}
	if b.app, err = postgres.Open(ctx, postgres.WithUser(b.adminURL, "tenantd_bench_app"), opts); err != nil {
		return err
	}
	if b.bypass, err = postgres.Open(ctx, postgres.WithUser(b.adminURL, "tenantd_bench_bypass"), opts); err != nil {
		return err
	}
	// The ceiling connects as the BYPASSRLS role: as the application role,
	// forced RLS without SET LOCAL would return no rows at all.
	pc, err := pgxpool.ParseConfig(postgres.WithUser(b.adminURL, "tenantd_bench_bypass"))
	if err != nil {
		return err
	}
	pc.MaxConns = int32(b.cfg.conc) + 4
	pc.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec // as postgres.Open
	pc.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c}, nil
	}
	if b.ceiling, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
		return err
	}
	master := make([]byte, auth.MasterKeySize)
	rand.Read(master)
	b.master = master
	var rlsSrv *api.Server
	for i, db := range []*postgres.DB{b.app, b.bypass} {
		ring := &auth.KeyRing{Store: db.Keys(), Master: master}
		if err := ring.Refresh(ctx); err != nil {
			return err
		}
		deps, cfg := api.Deps{Stores: db.Stores(), Keys: ring.Keys, Logger: slog.New(slog.DiscardHandler)}, api.Config{}
		// As in production: rate limits and the login throttle shared
		// through Redis (one private server, a prefix per stack).
		if deps.Limiter, deps.Throttle, err = b.redisLimits(fmt.Sprintf("bench%d:", i)); err != nil {
			return err
		}
		if b.cfg.flood > 0 && i == 0 {
			// Clients behind a trusted proxy that names their addresses.
			cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		}
		srv := api.NewServer(deps, cfg)
		b.servers = append(b.servers, srv)
		if i == 0 {
			b.rlsDeps = deps
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		hs := &nethttp.Server{Handler: srv.Handler()}
		go hs.Serve(ln)
		if i == 0 {
			b.rls, b.rlsURL, rlsSrv = hs, "http://"+ln.Addr().String(), srv
			b.issuer = &auth.Issuer{Keys: ring.Keys, Issuer: "tenantd", Audience: "tenantd-api"}
		} else {
			b.norls, b.norlsURL = hs, "http://"+ln.Addr().String()
		}
	}
	b.routes = map[string]bool{}
	for _, rt := range rlsSrv.Routes() {
		b.routes[rt.Method+" "+rt.Pattern] = true
	}
	return nil
}

func (b *bench) close() {
	if b.child != nil {
		b.child.stop()
	}
	b.rls.Close()
	b.norls.Close()
	for _, s := range b.servers {
		s.Close()
	}
	if b.stopRedis != nil {
		b.stopRedis()
	}
	b.ceiling.Close()
	b.app.Close()
	b.bypass.Close()
}

// redisLimits returns a rate limiter and login throttle in the bench's
// private redis-server (started on first use) under prefix.
func (b *bench) redisLimits(prefix string) (*ratelimit.Limiter, *ratelimit.LoginThrottle, error) {
	if b.redis == nil {
		url, stop, err := redisproc.Start()
		if err != nil {
			return nil, nil, err
		}
		b.stopRedis, b.redisURL = stop, url
		opt, err := redis.ParseURL(url)
		if err != nil {
			return nil, nil, err
		}
		b.redis = redis.NewClient(opt)
	}
	return ratelimit.New(b.redis, prefix+"rl:"), ratelimit.NewLoginThrottle(b.redis, prefix+"login:"), nil
}

var passwordHash = func() string {
	h, err := auth.HashPassword("bench password")
	if err != nil {
		panic(err)
	}
	return h
}()

// provision adds tenants until there are n, each with the configured
// number of workspaces. The small set logs in over HTTP; the large set's
// sessions are started directly (thousands of argon2 hashes would only
// measure argon2).
func (b *bench) provision(ctx context.Context, n int, login bool) error {
	conn, err := pgx.Connect(ctx, b.adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for i := len(b.users); i < n; i++ {
		slug := fmt.Sprintf("bench-%d", i)
		t, owner, err := b.app.Platform().CreateTenant(ctx, tenantd.NewTenant{Slug: slug, Name: "Bench " + slug, Plan: "enterprise",
			OwnerEmail: "owner@example.com", OwnerPasswordHash: passwordHash}, tenantd.RequestInfo{ID: "bench"})
		if err != nil {
			return fmt.Errorf("tenant %d: %w", i, err)
		}
		u := &user{tenant: t.ID, id: owner.ID}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL app.context = '"+t.ID.String()+"'"); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `INSERT INTO workspaces (tenant_id, name)
				SELECT $1, 'workspace ' || g FROM generate_series(1, $2) g RETURNING id`, t.ID, b.cfg.workspaces)
			if err != nil {
				return err
			}
			if u.workspaces, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]); err != nil {
				return err
			}
			// The load measures the stack, not the tenant's API rate limit.
			_, err = tx.Exec(ctx, `UPDATE tenants SET features = features ||
				'{"api_rate_limit": {"rate": 1000000, "period_seconds": 1, "burst": 1000000}}' WHERE id = $1`, t.ID)
			return err
		})
		if err != nil {
			return fmt.Errorf("workspaces of tenant %d: %w", i, err)
		}
		if login {
			u.token, err = b.login(slug)
		} else {
			u.token, err = b.session(ctx, u)
		}
		if err != nil {
			return err
		}
		b.users = append(b.users, u)
	}
	return nil
}

func (b *bench) login(slug string) (string, error) {
	body := fmt.Sprintf(`{"tenant":%q,"email":"owner@example.com","password":"bench password"}`, slug)
	res, err := nethttp.Post(b.rlsURL+"/v1/auth/login", "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || json.Unmarshal(raw, &out) != nil {
		return "", fmt.Errorf("login %s: %d %s", slug, res.StatusCode, raw)
	}
	return out.AccessToken, nil
}

func (b *bench) session(ctx context.Context, u *user) (string, error) {
	sid, err := b.app.Identity().CreateSession(ctx, u.tenant, u.id, []byte("bench"), time.Now().Add(24*time.Hour), tenantd.RequestInfo{ID: "bench"})
	if err != nil {
		return "", err
	}
	tok, _, err := b.issuer.Issue(u.id, u.tenant, sid)
	return tok, err
}

// gitDescribe names the commit measured, when run from a checkout.
func gitDescribe() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
