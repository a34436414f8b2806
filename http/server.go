// Package http is tenantd's HTTP API: routing, the seven-step request flow
// of the request flow (flow.go, docs/architecture.md), handlers, and RFC 9457 problem details
// (problem.go). It reaches tenant data only through postgres.DB's door.
package http

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/auth"
	"github.com/tenantd/tenantd/ratelimit"
	"github.com/tenantd/tenantd/securitycheck"
)

const maxBodyBytes = 1 << 20

// principalTTL is how long an idle session's principal and configuration
// are kept (the access token's lifetime: a session in use refreshes its
// token and keeps its entry). Correctness does not depend on it: the
// session guard in every transaction does.
const principalTTL = 15 * time.Minute

// The bounds of the per-instance caches: room for the sessions of 100,000
// busy tenants twice over (their memory is in BENCHMARKS.md).
const (
	maxCachedTokens         = 200_000
	maxCachedPrincipals     = 200_000
	maxCachedConfigurations = 10_000
)

// Config is what the server needs besides its dependencies.
type Config struct {
	Issuer           string        // token iss, e.g. "tenantd"
	Audience         string        // tenant API token aud
	OperatorAudience string        // platform operator token aud
	AccessTTL        time.Duration // default 15 minutes
	RefreshTTL       time.Duration // default 30 days
	TrustedProxies   []netip.Prefix
	// SecureCookies forces the Secure attribute on every cookie
	// (TENANTD_SECURE_COOKIES); otherwise see Server.secureCookies.
	SecureCookies bool
	// SeparateMetrics keeps GET /metrics off the API listener (the caller
	// serves InternalHandler on an internal address instead). Without it,
	// GET /metrics on the API takes an operator token: the metrics are
	// platform-wide.
	SeparateMetrics bool
	// RepeatWindow is how long repeated refusals are counted before one
	// event records them; zero means a minute.
	RepeatWindow time.Duration
	// RefusalLimit is the budget of refused requests per tenant (or per
	// client when no tenant is verified); zero means 60 a minute.
	RefusalLimit ratelimit.Policy
	// HeavyPerTenant is how many heavy requests (exports) one tenant may
	// run at once on this instance; zero means 2 (heavy.go).
	HeavyPerTenant int
}

// Server is the HTTP API.
type Server struct {
	users          tenantd.UserService
	workspaces     tenantd.WorkspaceService
	audit          tenantd.AuditService
	org            tenantd.OrganisationService
	identity       tenantd.IdentityService
	idempotency    tenantd.IdempotencyService
	platform       tenantd.PlatformService
	tenantAdmin    tenantd.TenantAdminService
	settings       tenantd.SettingsService
	health         interface{ Ping(context.Context) error }
	keys           func() *auth.KeySet
	issuer         *auth.Issuer
	verifier       *auth.CachingVerifier
	operators      *auth.Verifier
	limiter        *ratelimit.Limiter
	throttle       *ratelimit.LoginThrottle
	devices        *auth.DeviceCookies
	csrf           *auth.CSRFTokens
	checks         *securitycheck.Checker
	repeats        *repeats
	log            *slog.Logger
	cfg            Config
	principals     *principalCache
	configs        *configTable
	heavy          *heavyGate
	metrics        *metrics
	metricsHandler http.Handler
	routes         []Route
	betaPatterns   map[string]bool // "METHOD pattern" of the beta routes
	openAPIViews   sync.Map        // the document as seen with each set of betas (openapi.go)
	mux            *http.ServeMux
	now            func() time.Time
}

// Deps are the server's collaborators. Without Redis, Limiter and Throttle
// may be nil: each instance then throttles on its own, in memory (never
// not at all). Devices and CSRF nil sign device cookies and CSRF tokens
// with a random key, which only this process accepts.
type Deps struct {
	Stores   tenantd.Stores
	Keys     func() *auth.KeySet
	Limiter  *ratelimit.Limiter
	Throttle *ratelimit.LoginThrottle
	Devices  *auth.DeviceCookies
	CSRF     *auth.CSRFTokens
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// SecurityChecks, if set, are the regular security checks whose latest
	// outcomes /readyz shows (readiness.go).
	SecurityChecks *securitycheck.Checker
}

// NewServer builds the API.
func NewServer(d Deps, cfg Config) *Server {
	if cfg.Issuer == "" {
		cfg.Issuer = "tenantd"
	}
	if cfg.Audience == "" {
		cfg.Audience = "tenantd-api"
	}
	if cfg.OperatorAudience == "" {
		cfg.OperatorAudience = "tenantd-operator"
	}
	if cfg.AccessTTL == 0 {
		cfg.AccessTTL = auth.DefaultTTL
	}
	if cfg.RefreshTTL == 0 {
		cfg.RefreshTTL = 30 * 24 * time.Hour
	}
	if cfg.RepeatWindow == 0 {
		cfg.RepeatWindow = defaultRepeatWindow
	}
	if cfg.HeavyPerTenant <= 0 {
		cfg.HeavyPerTenant = defaultHeavyPerTenant
	}
	if cfg.RefusalLimit == (ratelimit.Policy{}) {
		cfg.RefusalLimit = defaultRefusalLimit
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	if d.Limiter == nil {
		d.Limiter = ratelimit.NewLocal()
	}
	if d.Throttle == nil {
		d.Throttle = ratelimit.NewLocalLoginThrottle()
	}
	if d.Devices == nil {
		key := make([]byte, auth.MasterKeySize)
		rand.Read(key)
		d.Devices, _ = auth.NewDeviceCookies(key)
	}
	if d.CSRF == nil {
		key := make([]byte, auth.MasterKeySize)
		rand.Read(key)
		d.CSRF, _ = auth.NewCSRFTokens(key)
	}
	s := &Server{
		users: d.Stores.Users, workspaces: d.Stores.Workspaces, audit: d.Stores.Audit, org: d.Stores.Organisation,
		identity: d.Stores.Identity, idempotency: d.Stores.Idempotency, platform: d.Stores.Platform,
		tenantAdmin: d.Stores.TenantAdmin, settings: d.Stores.Settings, health: d.Stores.Health,
		keys: d.Keys, limiter: d.Limiter, throttle: d.Throttle, devices: d.Devices, csrf: d.CSRF,
		checks: d.SecurityChecks, log: d.Logger, cfg: cfg, now: time.Now,
		principals: newPrincipalCache(maxCachedPrincipals, principalTTL),
		configs:    newConfigTable(maxCachedConfigurations),
		heavy:      newHeavyGate(cfg.HeavyPerTenant),
		metrics:    newMetrics(d.Registry),
	}
	registerThrottleMetrics(d.Registry, d.Limiter, d.Throttle)
	s.repeats = newRepeats(cfg.RepeatWindow, s.writeRepeated)
	s.issuer = &auth.Issuer{Keys: d.Keys, Issuer: cfg.Issuer, Audience: cfg.Audience, TTL: cfg.AccessTTL}
	s.verifier = auth.NewCachingVerifier(&auth.Verifier{Keys: d.Keys, Issuer: cfg.Issuer, Audience: cfg.Audience}, maxCachedTokens)
	registerCacheMetrics(d.Registry, s)
	s.operators = &auth.Verifier{Keys: d.Keys, Issuer: cfg.Issuer, Audience: cfg.OperatorAudience, Typ: auth.TypOperator}
	s.routes = s.routeTable()
	s.mux = http.NewServeMux()
	s.betaPatterns = map[string]bool{}
	for _, rt := range s.routes {
		s.mux.Handle(rt.Method+" "+rt.Pattern, s.wrap(rt))
		if rt.Beta != "" {
			s.betaPatterns[rt.Method+" "+rt.Pattern] = true
		}
	}
	s.metricsHandler = promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{})
	s.mux.HandleFunc("/", s.noRoute)
	return s
}

// noRoute answers a request no route took: 405 with Allow when the path
// exists with other methods, 404 otherwise.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		// A beta route's path is no one's business but its tenants'.
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" && !s.betaPatterns[pattern] {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		writeError(w, r, errNoRoute())
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeError(w, r, tenantd.Errorf(tenantd.EMETHOD, "This route takes %s, not %s.", strings.Join(allow, ", "), r.Method))
}

func errNoRoute() error { return tenantd.Errorf(tenantd.ENOTFOUND, "No such route.") }

// Close writes the events of the refusals still being counted (see
// repeats) and stops counting. Call it once the HTTP server has stopped.
func (s *Server) Close() { s.repeats.close() }

// Handler returns the root handler: request ids, client address, access log
// and panic recovery around the router.
func (s *Server) Handler() http.Handler { return s.base(s.mux) }

// Routes returns the route table: the isolation matrix enumerates it.
func (s *Server) Routes() []Route { return s.routes }

func (s *Server) base(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if !safeRequestID.MatchString(id) {
			id = newRequestID()
		}
		ip := clientIP(r, s.cfg.TrustedProxies)
		log := s.log.With("request_id", id)
		ctx := context.WithValue(r.Context(), keyRequestID, id)
		ctx = context.WithValue(ctx, keyClientIP, ip)
		ctx = context.WithValue(ctx, keyLogger, log)
		state := &requestState{}
		ctx = context.WithValue(ctx, keyState, state)
		w.Header().Set("X-Request-ID", id)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		r = r.WithContext(ctx)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("panic", "panic", p)
				if !rec.wrote {
					writeProblem(rec, Problem{Type: "/problems/internal", Title: "Internal error", Status: 500, Instance: r.URL.Path})
				}
			}
			log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
				"duration_ms", float64(time.Since(start).Microseconds())/1000, "ip", ip,
				"tenant_id", state.tenantID, "route", state.route)
			s.metrics.requests.WithLabelValues(state.route, strconv.Itoa(rec.status)).Inc()
		}()
		next.ServeHTTP(rec, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
