package http_test

import (
	"net/http/httptest"
	"testing"
)

// BenchmarkMiddleware is the whole request flow (token, signature, tenant,
// membership, context) in front of GET /v1/me, without the network.
func BenchmarkMiddleware(b *testing.B) {
	a := newApp(b)
	acme := a.newTenant("enterprise")
	a.sql(`UPDATE tenants SET features = '{"api_rate_limit":{"rate":100000000,"period_seconds":1,"burst":100000000}}' WHERE id = $1`, acme.ID)
	h := a.srv.Handler()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("GET", "/v1/me", nil)
			r.Header.Set("Authorization", "Bearer "+acme.Token)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("status %d %s", w.Code, w.Body)
			}
		}
	})
}
