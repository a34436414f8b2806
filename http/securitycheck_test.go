package http_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	api "github.com/tenantd/tenantd/http"
	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/securitycheck"
)

// withSecurityChecks gives the server the regular security checks; the
// test runs them (RunOnce) when it wants a verdict.
func withSecurityChecks(chk **securitycheck.Checker) option {
	return func(env *testenv.Env, d *api.Deps, _ *api.Config) {
		d.Registry = prometheus.NewRegistry()
		*chk = securitycheck.New(env.DB, securitycheck.Options{Registry: d.Registry, Logger: slog.New(slog.DiscardHandler)})
		d.SecurityChecks = *chk
	}
}

// A broken isolation shows in /readyz (as a detail: the instance stays
// ready), in /metrics and in the platform's security view.
func TestSecurityChecksOnTheAPI(t *testing.T) {
	t.Parallel()
	var chk *securitycheck.Checker
	a := newApp(t, withSecurityChecks(&chk))
	a.newTenant("pro")

	type ready struct {
		Status         string
		SecurityChecks map[string]struct {
			Status  string
			LastRun *string `json:"last_run"`
		} `json:"security_checks"`
	}
	readyz := func() ready {
		t.Helper()
		res := a.do("GET", "/readyz", "", nil)
		if res.Status != 200 {
			t.Fatalf("GET /readyz: %d %s", res.Status, res.Body)
		}
		var r ready
		res.json(t, &r)
		return r
	}
	if r := readyz(); r.SecurityChecks["isolation"].Status != "pending" || r.SecurityChecks["isolation"].LastRun != nil ||
		r.SecurityChecks["audit_chains"].Status != "pending" {
		t.Errorf("before the first run: %+v, want both pending", r)
	}
	chk.RunOnce(t.Context())
	if r := readyz(); r.SecurityChecks["isolation"].Status != "ok" || r.SecurityChecks["isolation"].LastRun == nil ||
		r.SecurityChecks["audit_chains"].Status != "ok" {
		t.Errorf("healthy: %+v, want both ok with a last run", r)
	}

	a.superQuery(`CREATE POLICY everything ON workspaces FOR SELECT USING (true)`)
	chk.RunOnce(t.Context())
	r := readyz()
	if r.Status != "ready" || r.SecurityChecks["isolation"].Status != "failed" || r.SecurityChecks["audit_chains"].Status != "ok" {
		t.Errorf("after widening a policy: %+v, want ready with isolation failed", r)
	}
	metrics := a.metrics()
	for _, want := range []string{`tenantd_security_check_ok{check="isolation"} 0`, `tenantd_security_check_failures_total{check="isolation"} 1`,
		`tenantd_security_check_ok{check="audit_chains"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	var view struct {
		Unattributed struct {
			Items []struct{ Action, Reason string }
		}
	}
	res := a.do("GET", "/v1/admin/security-events", a.operatorToken(), nil)
	if res.Status != 200 {
		t.Fatalf("security view: %d %s", res.Status, res.Body)
	}
	res.json(t, &view)
	found := false
	for _, e := range view.Unattributed.Items {
		found = found || e.Action == "security_check.isolation" && strings.Contains(e.Reason, "workspaces")
	}
	if !found {
		t.Errorf("the security view does not list the failed isolation check: %s", res.Body)
	}
}
