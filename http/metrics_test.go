package http_test

import (
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"testing"

	api "github.com/tenantd/tenantd/http"
)

// The metrics are platform-wide: on the API listener only a platform
// operator reads them, and with a separate metrics address (the internal
// one Prometheus scrapes) the API listener does not serve them at all.
// Profiling (/debug/pprof) is served on the internal listener only, never
// on the API, whatever the token.
func TestMetricsNotPublic(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")

	for name, token := range map[string]string{"no token": "", "a tenant owner's token": tn.Token} {
		if res := a.do("GET", "/metrics", token, nil); res.Status != 401 || strings.Contains(string(res.Body), "tenantd_http_requests_total") {
			t.Errorf("GET /metrics with %s: %d, want 401 without the metrics: %.200s", name, res.Status, res.Body)
		}
	}
	if res := a.do("GET", "/v1/me", tn.Token, nil); res.Status != 200 {
		t.Fatalf("GET /v1/me: %d", res.Status)
	}
	res := a.do("GET", "/metrics", a.operatorToken(), nil)
	if res.Status != 200 || !strings.Contains(string(res.Body), "tenantd_http_requests_total") {
		t.Fatalf("GET /metrics with an operator token: %d %.200s", res.Status, res.Body)
	}
	// The bounded caches are counted: one principal and one token cached.
	for _, want := range []string{
		`tenantd_cache_entries{cache="principal"} 1`, `tenantd_cache_entries{cache="token"} 1`,
		`tenantd_cache_max_entries{cache="token"} 200000`, `tenantd_cache_max_entries{cache="principal"} 200000`,
		`tenantd_cache_max_entries{cache="config"} 10000`, `tenantd_cache_entries{cache="config"} 1`,
		`tenantd_cache_misses_total{cache="principal"} 1`,
		`tenantd_cache_evictions_total{cache="config"} 0`,
	} {
		if !strings.Contains(string(res.Body), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// With TENANTD_METRICS_ADDR: not on the API at all, on the metrics handler to anyone.
	sep := api.NewServer(api.Deps{Stores: a.env.DB.Stores(), Keys: a.ring.Keys}, api.Config{SeparateMetrics: true})
	apiSrv := httptest.NewServer(sep.Handler())
	defer apiSrv.Close()
	metricsSrv := httptest.NewServer(sep.InternalHandler())
	defer metricsSrv.Close()
	for _, c := range []struct {
		url, token string
		want       int
	}{
		{apiSrv.URL + "/metrics", "", 404},
		{apiSrv.URL + "/metrics", a.operatorToken(), 404},
		{metricsSrv.URL + "/metrics", "", 200},
		{apiSrv.URL + "/debug/pprof/", "", 404},
		{apiSrv.URL + "/debug/pprof/", a.operatorToken(), 404},
		{apiSrv.URL + "/debug/pprof/goroutine?debug=1", a.operatorToken(), 404},
		{a.ts.URL + "/debug/pprof/", a.operatorToken(), 404},
		{a.ts.URL + "/debug/pprof/heap", a.operatorToken(), 404},
		{metricsSrv.URL + "/debug/pprof/", "", 200},
		{metricsSrv.URL + "/debug/pprof/goroutine?debug=1", "", 200},
	} {
		req, _ := nethttp.NewRequest("GET", c.url, nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := "tenantd_http_requests_total"
		if strings.Contains(c.url, "/debug/pprof/") {
			want = "goroutine"
		}
		if resp.StatusCode != c.want || c.want == 200 && !strings.Contains(string(body), want) {
			t.Errorf("GET %s (token %t): %d, want %d: %.200s", c.url, c.token != "", resp.StatusCode, c.want, body)
		}
	}
}
