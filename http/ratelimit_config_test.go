package http_test

import (
	"log/slog"
	nethttp "net/http"
	"net/http/httptest"
	"testing"

	api "github.com/tenantd/tenantd/http"
)

// Two instances on one database: an operator's api_rate_limit override,
// made on one, is the tenant's RateLimit-Policy at once on that one and on
// the other, which had the tenant's configuration cached (the session
// guard refuses the cached copy, and the request runs again with the new
// one).
func TestRateLimitOverrideReachesEveryInstanceAtOnce(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	other := httptest.NewServer(api.NewServer(api.Deps{Stores: a.env.DB.Stores(), Keys: a.ring.Keys,
		Logger: slog.New(slog.DiscardHandler)}, api.Config{}).Handler())
	defer other.Close()
	policyOn := func(base string) string {
		t.Helper()
		req, _ := nethttp.NewRequest("GET", base+"/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+tn.Token)
		res, err := other.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("GET /v1/me on %s: %d", base, res.StatusCode)
		}
		return res.Header.Get("RateLimit-Policy")
	}
	const proPolicy = `"default";q=300;w=6` // 3000 a minute, a burst of 300
	if got := policyOn(other.URL); got != proPolicy {
		t.Fatalf("the other instance before the override: %q, want %q", got, proPolicy)
	}
	if got := policyOn(a.ts.URL); got != proPolicy {
		t.Fatalf("this instance before the override: %q, want %q", got, proPolicy)
	}

	a.admin(a.operatorToken(), "PUT", "/v1/admin/tenants/"+tn.ID.String()+"/features/api_rate_limit",
		map[string]any{"value": map[string]any{"rate": 100, "period_seconds": 10, "burst": 50}}, 200)
	const overridden = `"default";q=50;w=5` // 100 every 10 seconds, a burst of 50
	if got := policyOn(a.ts.URL); got != overridden {
		t.Errorf("the instance that made the change, at once: %q, want %q", got, overridden)
	}
	if got := policyOn(other.URL); got != overridden {
		t.Errorf("the other instance, at once: %q, want %q", got, overridden)
	}
}
