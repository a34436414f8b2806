package http

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
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

// serveMetrics: GET /metrics on the API listener, for platform operators
// (Prometheus scrapes MetricsHandler on TENANTD_METRICS_ADDR instead).
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, _ *operatorCall) error {
	s.metricsHandler.ServeHTTP(w, r)
	return nil
}
