package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tenantd/tenantd/auth"
	"github.com/tenantd/tenantd/checkpoint"
	api "github.com/tenantd/tenantd/http"
	"github.com/tenantd/tenantd/internal/redisproc"
	"github.com/tenantd/tenantd/postgres"
	"github.com/tenantd/tenantd/ratelimit"
	"github.com/tenantd/tenantd/securitycheck"
)

const (
	keyRefreshEvery = 30 * time.Second // well under auth.DefaultPublishFor
	shutdownTimeout = 20 * time.Second
)

// serveConfig is serve's configuration from the environment.
type serveConfig struct {
	addr           string
	metricsAddr    string
	databaseURL    string
	migrateURL     string
	redisURL       string
	issuer         string
	trustedProxies []netip.Prefix
	secureCookies  bool
	demo           bool
	// The signed audit checkpoint log, and how often to append to it
	// (0: never).
	checkpoints     string
	checkpointEvery time.Duration
	// How often to seal the audit events written since (0: never; another
	// instance must).
	sealEvery      time.Duration
	securityChecks time.Duration // between the regular security checks; 0: at start only
	// tenantShare is the fraction of the pool one tenant's authenticated
	// requests may hold at once (0: postgres.DefaultTenantFraction).
	tenantShare float64
	// heavyPerTenant is how many exports one tenant may run at once on
	// this instance (TENANTD_HEAVY_PER_TENANT; 0: the default).
	heavyPerTenant int
}

func loadServeConfig(c *cli) (serveConfig, error) {
	cfg := serveConfig{
		addr:        c.config("TENANTD_ADDR", "127.0.0.1:8080"),
		metricsAddr: c.config("TENANTD_METRICS_ADDR", ""),
		databaseURL: c.config("DATABASE_URL", ""),
		migrateURL:  c.config("MIGRATE_DATABASE_URL", ""),
		redisURL:    c.config("REDIS_URL", ""),
		issuer:      c.config("TENANTD_ISSUER", ""),
		demo:        isTrue(c.env("TENANTD_DEMO")),
		checkpoints: checkpointsPath(c, ""),
	}
	switch every := c.config("TENANTD_AUDIT_CHECKPOINT_EVERY", "5m"); every {
	case "0", "off":
	default:
		d, err := time.ParseDuration(every)
		if err != nil || d <= 0 {
			return cfg, fmt.Errorf("TENANTD_AUDIT_CHECKPOINT_EVERY: %q is not a duration such as 5m (or 0 for never)", every)
		}
		cfg.checkpointEvery = d
	}
	switch every := c.config("TENANTD_AUDIT_SEAL_EVERY", "1s"); every {
	case "0", "off":
	default:
		d, err := time.ParseDuration(every)
		if err != nil || d <= 0 {
			return cfg, fmt.Errorf("TENANTD_AUDIT_SEAL_EVERY: %q is not a duration such as 1s (or 0 for never)", every)
		}
		cfg.sealEvery = d
	}
	every, err := time.ParseDuration(c.config("TENANTD_SECURITY_CHECK_INTERVAL", "1h"))
	if err != nil || every < 0 {
		return cfg, fmt.Errorf("TENANTD_SECURITY_CHECK_INTERVAL: %q is not a duration such as 1h or 30m (0: at start only)",
			c.config("TENANTD_SECURITY_CHECK_INTERVAL", "1h"))
	}
	cfg.securityChecks = every
	if cfg.databaseURL == "" && cfg.migrateURL != "" {
		return cfg, errors.New("MIGRATE_DATABASE_URL is set but DATABASE_URL is not: set both for an external database, or neither for the embedded cluster")
	}
	for _, s := range strings.Split(c.env("TENANTD_TRUSTED_PROXIES"), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s) // a bare address is a /32 or /128
			if aerr != nil {
				return cfg, fmt.Errorf("TENANTD_TRUSTED_PROXIES: %q is not a CIDR", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		cfg.trustedProxies = append(cfg.trustedProxies, p.Masked())
	}
	if v := strings.TrimSpace(c.env("TENANTD_TENANT_SHARE")); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0 && f <= 1) {
			return cfg, fmt.Errorf("TENANTD_TENANT_SHARE: %q is not a fraction of the pool above 0 and at most 1, such as 0.75", v)
		}
		cfg.tenantShare = f
	}
	if v := strings.TrimSpace(c.env("TENANTD_HEAVY_PER_TENANT")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return cfg, fmt.Errorf("TENANTD_HEAVY_PER_TENANT: %q is not a number of requests of at least 1, such as 2", v)
		}
		cfg.heavyPerTenant = n
	}
	switch v := strings.ToLower(strings.TrimSpace(c.env("TENANTD_SECURE_COOKIES"))); v {
	case "", "0", "false", "no", "off":
	case "1", "true", "yes", "on":
		cfg.secureCookies = true
	default: // a typo must not quietly leave cookies without Secure
		return cfg, fmt.Errorf("TENANTD_SECURE_COOKIES: %q is neither 1 nor 0", v)
	}
	return cfg, nil
}

func isTrue(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// cmdServe runs the API server until ctx is done (SIGINT, SIGTERM), then
// finishes in-flight requests, closes the database and stops the embedded
// cluster.
func cmdServe(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "serve", "serve [--demo]")
	demo := fs.Bool("demo", false, "provision the demo tenants acme and globex (also TENANTD_DEMO=1)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadServeConfig(c)
	if err != nil {
		return err
	}
	cfg.demo = cfg.demo || *demo
	log := c.log

	master, err := masterKey(c, true)
	if err != nil {
		return err
	}

	// The database, as the application role.
	dir := cells(cfg.databaseURL, cfg.migrateURL)
	if cfg.databaseURL == "" {
		emb, err := openEmbedded(ctx, c, false)
		if err != nil {
			return err
		}
		defer emb.stop() // after db.Close below
		dir = cells(emb.appURL, "")
	} else if cfg.migrateURL != "" {
		if err := dir.Migrate(ctx, log); err != nil {
			return err
		}
	}
	db, err := postgres.OpenDirectory(ctx, dir, postgres.Options{Logger: log, MaxConns: 20, TenantFraction: cfg.tenantShare})
	if err != nil {
		return err
	}
	defer db.Close()
	log.Info("connection pool", "tenant_share", db.TenantShare())
	if err := db.Ping(ctx); err != nil {
		return fmt.Errorf("database not ready: %w", err)
	}
	problems, err := db.RoleProblems(ctx)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		fmt.Fprintln(c.stderr, "tenantd serve: refusing to start: the database role of DATABASE_URL could see or change every tenant's data:")
		for _, p := range problems {
			fmt.Fprintln(c.stderr, "  - "+p)
		}
		fmt.Fprintln(c.stderr, "Connect as a login role that is only a member of tenantd_app (see postgres.EnsureLoginRole).")
		return exitError{1}
	}

	// Token signing keys, shared with the other instances through the database.
	ring := &auth.KeyRing{Store: db.Keys(), Master: master}
	if err := ring.Refresh(ctx); err != nil {
		return err
	}
	refreshCtx, stopRefresh := context.WithCancel(context.WithoutCancel(ctx))
	var refreshing sync.WaitGroup
	refreshing.Go(func() { refreshKeys(refreshCtx, ring, log) })
	defer refreshing.Wait()
	defer stopRefresh()

	// Redis: REDIS_URL; on the embedded default without it, a private
	// redis-server (so limits are shared as in production); else none:
	// every instance then throttles on its own, in memory, never not at all.
	limiter, throttle := ratelimit.NewLocal(), ratelimit.NewLocalLoginThrottle()
	if cfg.redisURL == "" && cfg.databaseURL == "" {
		url, stopRedis, err := redisproc.Start()
		if err != nil {
			log.Warn("no private redis-server", "err", err)
		} else {
			defer stopRedis()
			log.Info("started a private redis-server for rate limits and login back-off", "url", url)
			cfg.redisURL = url
		}
	}
	if cfg.redisURL == "" {
		log.Warn("REDIS_URL is not set: rate limits and login throttling are per instance, in memory",
			"detail", "each instance allows a client its whole quota; set REDIS_URL to share the limits",
			"metric", "tenantd_ratelimit_shared")
	} else {
		opt, err := redis.ParseURL(cfg.redisURL)
		if err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
		rdb := redis.NewClient(opt)
		defer rdb.Close()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := rdb.Ping(pctx).Err(); err != nil {
			log.Warn("Redis does not answer yet; rate limits fall back to per-instance until it does", "err", err)
		}
		cancel()
		limiter = ratelimit.New(rdb, "tenantd:rl:")
		throttle = ratelimit.NewLoginThrottle(rdb, "tenantd:login:")
	}

	if cfg.demo {
		if err := provisionDemo(ctx, db, log); err != nil {
			return fmt.Errorf("demo tenants: %w", err)
		}
	}

	devices, err := auth.NewDeviceCookies(master) // every instance accepts every other's device cookies
	if err != nil {
		return err
	}
	csrf, err := auth.NewCSRFTokens(master) // and every other's CSRF tokens
	if err != nil {
		return err
	}
	// Signed checkpoints of every tenant's audit chain head, kept outside
	// the database, at once and then periodically.
	key, err := checkpoint.NewKey(master)
	if err != nil {
		return err
	}
	auditor := &checkpoint.Auditor{DB: db, Store: checkpoint.NewFileStore(cfg.checkpoints, key), Key: key, Log: log}
	if cfg.checkpointEvery > 0 {
		checkpointCtx, stopCheckpoints := context.WithCancel(context.WithoutCancel(ctx))
		var checkpointing sync.WaitGroup
		checkpointing.Go(func() { auditor.Run(checkpointCtx, cfg.checkpointEvery) })
		defer checkpointing.Wait()
		defer stopCheckpoints()
		log.Info("signing audit checkpoints", "file", cfg.checkpoints, "every", cfg.checkpointEvery.String())
	} else {
		log.Warn("TENANTD_AUDIT_CHECKPOINT_EVERY=0: no audit checkpoints; a deleted tail or a rewritten chain goes unnoticed")
	}

	reg := prometheus.NewRegistry() // package http registers its metrics and the Go and process collectors

	// The audit sealer: writes insert their events unsealed; this chains
	// them, on every instance (one at a time per tenant).
	if cfg.sealEvery > 0 {
		sealCtx, stopSealing := context.WithCancel(context.WithoutCancel(ctx))
		var sealing sync.WaitGroup
		report := sealMetrics(reg, log)
		sealing.Go(func() { db.RunSealer(sealCtx, cfg.sealEvery, report) })
		defer sealing.Wait()
		defer stopSealing()
	} else {
		log.Warn("TENANTD_AUDIT_SEAL_EVERY=0: this instance does not seal audit events; another instance must, or they stay out of the hash chain")
	}

	// The isolation check and the audit-chain verification (against the
	// signed checkpoints), now (in the background: the chains may be long)
	// and every interval.
	checks := securitycheck.New(db, securitycheck.Options{
		VerifyChains: func(ctx context.Context) ([]postgres.VerifyResult, error) { return auditor.Verify(ctx, "") },
		Registry:     reg, Logger: log,
	})
	checkCtx, stopChecks := context.WithCancel(context.WithoutCancel(ctx))
	var checking sync.WaitGroup
	checking.Go(func() { checks.Run(checkCtx, cfg.securityChecks) })
	defer checking.Wait()
	defer stopChecks()

	handler := api.NewServer(api.Deps{
		Stores: db.Stores(), Keys: ring.Keys, Limiter: limiter, Throttle: throttle, Devices: devices, CSRF: csrf, Logger: log, Registry: reg,
		SecurityChecks: checks,
	}, api.Config{Issuer: cfg.issuer, TrustedProxies: cfg.trustedProxies, SecureCookies: cfg.secureCookies,
		SeparateMetrics: cfg.metricsAddr != "", HeavyPerTenant: cfg.heavyPerTenant})
	defer handler.Close() // writes the counts of repeated refusals, after the listener stopped
	if cfg.metricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.metricsAddr)
		if err != nil {
			return fmt.Errorf("TENANTD_METRICS_ADDR: %w", err)
		}
		msrv := &http.Server{Handler: handler.InternalHandler(), ReadHeaderTimeout: 5 * time.Second}
		go msrv.Serve(mln)
		defer msrv.Close()
		log.Info("metrics listening", "addr", mln.Addr().String())
	}
	srv := &http.Server{
		Handler:           handler.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("TENANTD_ADDR: %w", err)
	}
	base := baseURL(ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "url", base, "embedded", cfg.databaseURL == "")
	if cfg.demo {
		printDemoBanner(c.stdout, base)
	}

	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "timeout", shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("in-flight requests did not finish in time; closing their connections", "err", err)
		srv.Close()
	}
	<-served
	log.Info("http server stopped")
	return nil
}

// refreshKeys reloads (and rotates) the signing keys until ctx is done.
func refreshKeys(ctx context.Context, ring *auth.KeyRing, log *slog.Logger) {
	t := time.NewTicker(keyRefreshEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := ring.Refresh(rctx); err != nil && ctx.Err() == nil {
				log.Warn("refreshing the signing keys failed; keeping the current ones", "err", err)
			}
			cancel()
		}
	}
}

// masterKey loads the key that seals the signing keys: TENANTD_MASTER_KEY,
// else $TENANTD_DATA/master.key, created when create is set.
func masterKey(c *cli, create bool) ([]byte, error) {
	// auth.LoadOrCreateMasterKey reads the process environment itself.
	if v := c.env(auth.MasterKeyEnv); v != os.Getenv(auth.MasterKeyEnv) {
		return nil, fmt.Errorf("%s must be set in the process environment", auth.MasterKeyEnv)
	}
	path := filepath.Join(c.dataDir(), "master.key")
	if c.env(auth.MasterKeyEnv) == "" {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if !create {
				return nil, fmt.Errorf("no master key: set %s or run where %s exists (the servers' key)", auth.MasterKeyEnv, path)
			}
			if _, err := prepareDataDir(c); err != nil {
				return nil, err
			}
			c.log.Info("creating a new master key; every instance must use the same key", "file", path)
		}
	}
	return auth.LoadOrCreateMasterKey(path)
}

// baseURL is the URL clients on this machine use to reach addr.
func baseURL(addr net.Addr) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	host := ta.IP.String()
	if ta.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(ta.Port))
}

// sealMetrics registers the sealer's metrics and returns what reports
// each round to them and to the log.
func sealMetrics(reg prometheus.Registerer, log *slog.Logger) func(postgres.SealRun, error) {
	waiting := prometheus.NewGauge(prometheus.GaugeOpts{Name: "tenantd_audit_unsealed_events",
		Help: "Audit events not yet in their tenant's hash chain, as the sealer last found them."})
	oldest := prometheus.NewGauge(prometheus.GaugeOpts{Name: "tenantd_audit_unsealed_oldest_seconds",
		Help: "How long the oldest unsealed audit event had waited when the sealer last looked (0: none)."})
	sealed := prometheus.NewCounter(prometheus.CounterOpts{Name: "tenantd_audit_sealed_events_total",
		Help: "Audit events this instance chained."})
	failures := prometheus.NewCounter(prometheus.CounterOpts{Name: "tenantd_audit_seal_failures_total",
		Help: "Rounds of the audit sealer that failed for at least one tenant."})
	reg.MustRegister(waiting, oldest, sealed, failures)
	return func(run postgres.SealRun, err error) {
		waiting.Set(float64(run.Waiting))
		if run.Oldest.IsZero() {
			oldest.Set(0)
		} else {
			oldest.Set(time.Since(run.Oldest).Seconds())
		}
		sealed.Add(float64(run.Sealed))
		if err != nil {
			failures.Inc()
			log.Error("audit sealing failed", "err", err, "sealed", run.Sealed)
		}
	}
}
