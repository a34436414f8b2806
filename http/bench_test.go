package http_test

import (
	nethttp "net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkMiddleware is the whole request flow (token, signature, tenant,
// membership, foreign-tenant check, Redis rate limit) in front of a handler
// that does nothing, without the network.
func BenchmarkMiddleware(b *testing.B) {
	a, token := benchApp(b)
	benchGet(b, a.srv.TrivialTenantHandler(), "/bench", token, 204)
}

// BenchmarkMe is GET /v1/me end to end in-process: the flow plus one
// database round trip (context, session guard, query, commit).
func BenchmarkMe(b *testing.B) {
	a, token := benchApp(b)
	benchGet(b, a.srv.Handler(), "/v1/me", token, 200)
}

func benchApp(b *testing.B) (*app, string) {
	a := newApp(b)
	acme := a.newTenant("enterprise")
	a.sql(`UPDATE tenants SET features = '{"api_rate_limit":{"rate":10000000,"period_seconds":1,"burst":10000000}}' WHERE id = $1`, acme.ID)
	return a, acme.Token
}

// benchGet sends GET path with the token through h from parallel
// goroutines, failing on any other status than want.
func benchGet(b *testing.B, h nethttp.Handler, path, token string, want int) {
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("GET", path, nil)
			r.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != want {
				b.Fatalf("status %d %s", w.Code, w.Body)
			}
		}
	})
}
