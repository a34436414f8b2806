package http_test

import (
	"net/http/httptest"
	"testing"
)

// BenchmarkMiddleware is the whole request flow (token, signature, tenant,
// membership, foreign-tenant check, Redis rate limit) in front of a handler
// that does nothing, without the network.
func BenchmarkMiddleware(b *testing.B) {
	a, token := benchApp(b)
	h := a.srv.TrivialTenantHandler()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("GET", "/bench", nil)
			r.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 204 {
				b.Fatalf("status %d %s", w.Code, w.Body)
			}
		}
	})
}

// BenchmarkMe is GET /v1/me end to end in-process: the flow plus one
// database round trip (context, session guard, query, commit).
func BenchmarkMe(b *testing.B) {
	a, token := benchApp(b)
	h := a.srv.Handler()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("GET", "/v1/me", nil)
			r.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("status %d %s", w.Code, w.Body)
			}
		}
	})
}

func benchApp(b *testing.B) (*app, string) {
	a := newApp(b)
	acme := a.newTenant("enterprise")
	a.sql(`UPDATE tenants SET features = '{"api_rate_limit":{"rate":100000000,"period_seconds":1,"burst":100000000}}' WHERE id = $1`, acme.ID)
	return a, acme.Token
}
