package http

import (
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenantd/tenantd/ratelimit"
)

type metrics struct {
	requests *prometheus.CounterVec
	flagged  *prometheus.CounterVec
}

// newMetrics registers the server's metrics. No metric has a tenant label:
// cardinality must not grow with the number of tenants.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tenantd_http_requests_total", Help: "HTTP requests by route pattern and status.",
		}, []string{"route", "status"}),
		flagged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tenantd_flagged_events_total", Help: "Flagged (suspected cross-tenant or abuse) audit events by reason.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.requests, m.flagged, prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// registerThrottleMetrics tells operators whether the rate limits and the
// login throttle are shared by every instance (Redis) or kept by each in
// memory, and how many decisions were made in memory (all of them without
// Redis, those during an outage with it).
func registerThrottleMetrics(reg prometheus.Registerer, l *ratelimit.Limiter, t *ratelimit.LoginThrottle) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tenantd_ratelimit_shared",
			Help: "1 when rate limits and login throttling are shared by every instance through Redis, 0 when each instance keeps its own in memory.",
		}, func() float64 {
			if l.Shared() && t.Shared() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tenantd_ratelimit_local_decisions_total",
			Help: "Rate-limit and login-throttle decisions made in this instance's memory (no Redis configured, or Redis unavailable).",
		}, func() float64 { return float64(l.LocalDecisions() + t.LocalDecisions()) }),
	)
}

// registerCacheMetrics exposes the server's bounded caches: the verified
// tokens, the principals (roles, memberships) and the tenants'
// configurations. Each has a fixed maximum; the gauges say how full each
// is, and the counters how often it answered, missed and evicted (a cache
// emptied because it was full counts every entry it dropped).
func registerCacheMetrics(reg prometheus.Registerer, s *Server) {
	type cache struct {
		name  string
		size  func() (entries, max int)
		stats func() (hits, misses, evictions uint64)
	}
	caches := []cache{
		{"token", func() (int, int) { st := s.verifier.Stats(); return st.Entries, st.Max },
			func() (uint64, uint64, uint64) { st := s.verifier.Stats(); return st.Hits, st.Misses, st.Evictions }},
		{"principal", func() (int, int) { return s.principals.len(), s.principals.max },
			func() (uint64, uint64, uint64) { return statsOf(&s.principals.stats) }},
		{"config", func() (int, int) { return s.configs.len(), s.configs.max },
			func() (uint64, uint64, uint64) { return statsOf(&s.configs.stats) }},
	}
	for _, c := range caches {
		labels := prometheus.Labels{"cache": c.name}
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tenantd_cache_entries", ConstLabels: labels,
				Help: "Entries in one of the server's bounded caches."},
				func() float64 { n, _ := c.size(); return float64(n) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tenantd_cache_max_entries", ConstLabels: labels,
				Help: "The most entries one of the server's caches holds."},
				func() float64 { _, m := c.size(); return float64(m) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tenantd_cache_hits_total", ConstLabels: labels,
				Help: "Lookups one of the server's caches answered."},
				func() float64 { h, _, _ := c.stats(); return float64(h) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tenantd_cache_misses_total", ConstLabels: labels,
				Help: "Lookups one of the server's caches could not answer."},
				func() float64 { _, m, _ := c.stats(); return float64(m) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tenantd_cache_evictions_total", ConstLabels: labels,
				Help: "Entries one of the server's caches dropped to stay within its bound."},
				func() float64 { _, _, e := c.stats(); return float64(e) }),
		)
	}
}

func statsOf(s *cacheStats) (hits, misses, evictions uint64) {
	return s.hits.Load(), s.misses.Load(), s.evictions.Load()
}

// serveMetrics: GET /metrics on the API listener, for platform operators
// (Prometheus scrapes InternalHandler on TENANTD_METRICS_ADDR instead).
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, _ *operatorCall) error {
	s.metricsHandler.ServeHTTP(w, r)
	return nil
}

// InternalHandler serves the internal listener (TENANTD_METRICS_ADDR) to
// anyone who reaches it: GET /metrics for Prometheus, and /debug/pprof/
// for operators profiling a server under load (go tool pprof
// http://ADDR/debug/pprof/profile?seconds=30). Profiling is never on the
// API listener: a profile shows the server's internals and costs it CPU
// while it runs. On the API, GET /metrics takes an operator token, and is
// absent with Config.SeparateMetrics.
func (s *Server) InternalHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metricsHandler)
	mux.HandleFunc("/debug/pprof/", pprof.Index) // and the named profiles: heap, goroutine, …
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
