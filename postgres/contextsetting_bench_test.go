package postgres

import (
	"testing"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// The SET LOCAL literal every transaction of a request builds (its part of
// the server's CPU per request: BENCHMARKS.md).
func BenchmarkContextSetting(b *testing.B) {
	s := tenantd.Scope{TenantID: uuid.New(), UserID: uuid.New(), Role: tenantd.RoleOwner,
		Actor:   tenantd.Actor{Type: tenantd.ActorUser, ID: uuid.NewString()},
		Request: tenantd.RequestInfo{ID: "0123456789abcdef01234567", IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) bench"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := contextSetting(s); err != nil {
			b.Fatal(err)
		}
	}
}
