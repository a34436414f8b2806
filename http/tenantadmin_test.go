package http_test

import (
	"fmt"
	"log/slog"
	nethttp "net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/auth"
	api "github.com/tenantd/tenantd/http"
)

// operatorTokenFor mints an operator token for a known operator id.
func (a *app) operatorTokenFor(operator uuid.UUID) string {
	a.t.Helper()
	iss := &auth.Issuer{Keys: a.ring.Keys, Issuer: "tenantd", Audience: "tenantd-operator", Typ: auth.TypOperator}
	tok, _, err := iss.Issue(operator, api.PlatformTenant, uuid.New())
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

// managedTenant is GET /v1/admin/tenants/{id}.
type managedTenant struct {
	ID     uuid.UUID
	Plan   string
	Status string
	Limits []struct {
		Name   string
		Value  int
		Source string
	}
	Features []struct {
		Name   string
		Value  any
		Source string
	}
	Usage struct {
		Workspaces, Users struct{ Used, Limit int }
	}
}

func (m managedTenant) limit(name string) (int, string) {
	for _, l := range m.Limits {
		if l.Name == name {
			return l.Value, l.Source
		}
	}
	return -1, ""
}

func (m managedTenant) feature(name string) (any, string) {
	for _, f := range m.Features {
		if f.Name == name {
			return f.Value, f.Source
		}
	}
	return nil, ""
}

// admin sends an operator request and decodes a tenant from a 200.
func (a *app) admin(op, method, path string, body any, want int) managedTenant {
	a.t.Helper()
	res := a.do(method, path, op, body)
	if res.Status != want {
		a.t.Fatalf("%s %s: %d, want %d: %s", method, path, res.Status, want, res.Body)
	}
	var m managedTenant
	if want == 200 {
		res.json(a.t, &m)
	}
	return m
}

// An operator lists tenants, reads one with the source of every limit and
// feature, and changes its plan, limits and features; each change is in
// the tenant's audit log with the operator (the token's subject) as actor.
func TestOperatorManagesATenant(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	other := a.newTenant("free")
	opID := uuid.New()
	op := a.operatorTokenFor(opID)
	base := "/v1/admin/tenants/" + tn.ID.String()

	m := a.admin(op, "GET", base, nil, 200)
	if v, src := m.limit(tenantd.LimitMaxUsers); m.Plan != "pro" || v != 25 || src != tenantd.SourcePlan {
		t.Fatalf("pro tenant: plan %s, max_users %d from %s", m.Plan, v, src)
	}

	m = a.admin(op, "PUT", base+"/plan", map[string]any{"plan": "enterprise"}, 200)
	if v, src := m.limit(tenantd.LimitMaxUsers); m.Plan != "enterprise" || v != 500 || src != tenantd.SourcePlan {
		t.Fatalf("after set-plan: plan %s, max_users %d from %s", m.Plan, v, src)
	}
	m = a.admin(op, "PATCH", base+"/limits", map[string]any{"max_users": 7, "max_workspaces": 2}, 200)
	if v, src := m.limit(tenantd.LimitMaxUsers); v != 7 || src != tenantd.SourceOverride {
		t.Fatalf("after the limits patch: max_users %d from %s", v, src)
	}
	m = a.admin(op, "PATCH", base+"/limits", `{"max_users": null}`, 200)
	if v, src := m.limit(tenantd.LimitMaxUsers); v != 500 || src != tenantd.SourcePlan {
		t.Fatalf("after removing the override: max_users %d from %s", v, src)
	}
	if v, src := m.limit(tenantd.LimitMaxWorkspaces); v != 2 || src != tenantd.SourceOverride {
		t.Fatalf("an override the patch did not name changed: max_workspaces %d from %s", v, src)
	}
	m = a.admin(op, "PUT", base+"/features/custom_branding", map[string]any{"value": false}, 200)
	if v, src := m.feature(tenantd.FeatureCustomBranding); v != false || src != tenantd.SourceOverride {
		t.Fatalf("custom_branding %v from %s", v, src)
	}
	m = a.admin(op, "DELETE", base+"/features/custom_branding", nil, 200)
	if v, src := m.feature(tenantd.FeatureCustomBranding); v != true || src != tenantd.SourcePlan {
		t.Fatalf("custom_branding after the override's removal: %v from %s", v, src)
	}

	// Bad input is refused and changes nothing.
	for _, c := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"PUT", base + "/plan", map[string]any{"plan": "gold"}, 422},
		{"PUT", base + "/plan", map[string]any{"plan": "pro", "extra": 1}, 400},
		{"PATCH", base + "/limits", map[string]any{"max_users": -1}, 422},
		{"PATCH", base + "/limits", map[string]any{"max_users": 1.5}, 422},
		{"PATCH", base + "/limits", map[string]any{"max_seats": 5}, 400},
		{"PATCH", base + "/limits", map[string]any{}, 422},
		{"PUT", base + "/features/api_rate_limit", map[string]any{"value": map[string]any{"rate": 0, "period_seconds": 60, "burst": 1}}, 422},
		{"PUT", base + "/features/api_rate_limit", map[string]any{"value": true}, 422},
		{"PUT", base + "/features/custom_branding", map[string]any{}, 422},
		{"PUT", base + "/features/no_such_feature", map[string]any{"value": true}, 404},
		{"PUT", base + "/features/beta.unregistered", map[string]any{"value": true}, 404},
		{"DELETE", base + "/features/no_such_feature", nil, 404},
		{"GET", "/v1/admin/tenants/" + uuid.NewString(), nil, 404},
		{"GET", "/v1/admin/tenants/not-a-uuid", nil, 404},
		{"POST", "/v1/admin/tenants/" + uuid.NewString() + "/suspend", nil, 404},
	} {
		before := a.checksums(tn.ID)
		if res := a.do(c.method, c.path, op, c.body); res.Status != c.status {
			t.Errorf("%s %s %v: %d, want %d: %s", c.method, c.path, c.body, res.Status, c.status, res.Body)
		}
		if after := a.checksums(tn.ID); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("%s %s %v: refused, but the tenant changed", c.method, c.path, c.body)
		}
	}

	// The other tenant is untouched; its own log has no operator event.
	if o := a.admin(op, "GET", "/v1/admin/tenants/"+other.ID.String(), nil, 200); o.Plan != "free" {
		t.Errorf("the other tenant's plan: %s", o.Plan)
	}
	if got := a.events(other.ID, "tenant.updated"); len(got) != 0 {
		t.Errorf("the other tenant has tenant.updated events: %+v", got)
	}
	events := a.events(tn.ID, "tenant.updated")
	if len(events) != 5 {
		t.Fatalf("%d tenant.updated events, want 5 (plan, limits twice, feature set and removed): %+v", len(events), events)
	}
	for _, e := range events {
		if e.Actor.Type != tenantd.ActorOperator || e.Actor.ID != opID.String() {
			t.Errorf("event %s by %+v, want operator %s", e.Action, e.Actor, opID)
		}
	}
	if c, _ := events[0].Changes["plan"].(map[string]any); c["old"] != "pro" || c["new"] != "enterprise" {
		t.Errorf("plan change recorded as %v", events[0].Changes)
	}
	// An operator's call is also a platform security event.
	if rows := a.superQuery(`SELECT count(*) FROM security_events WHERE action = 'operator.PUT /v1/admin/tenants/{id}/plan'`); rows[0][0] == "0" {
		t.Error("no security event for the operator's call")
	}
}

// The operators' list pages by slug and filters by plan, status and
// region; a bad filter is a 400.
func TestOperatorListsTenants(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	op := a.operatorToken()
	var free []*tenant
	for range 3 {
		free = append(free, a.newTenant("free"))
	}
	a.newTenant("pro")
	a.admin(op, "POST", "/v1/admin/tenants/"+free[1].ID.String()+"/suspend", nil, 200)

	var slugs []string
	path := "/v1/admin/tenants?plan=free&limit=2"
	for path != "" {
		res := a.do("GET", path, op, nil)
		if res.Status != 200 {
			t.Fatalf("%s: %d %s", path, res.Status, res.Body)
		}
		var page struct {
			Items      []struct{ Slug, Plan string }
			NextCursor *string `json:"next_cursor"`
		}
		res.json(t, &page)
		for _, it := range page.Items {
			if it.Plan != "free" {
				t.Errorf("plan filter let %s (%s) through", it.Slug, it.Plan)
			}
			slugs = append(slugs, it.Slug)
		}
		path = ""
		if page.NextCursor != nil {
			path = "/v1/admin/tenants?plan=free&limit=2&cursor=" + *page.NextCursor
		}
	}
	if len(slugs) != 3 {
		t.Errorf("free tenants listed: %v, want 3", slugs)
	}
	res := a.do("GET", "/v1/admin/tenants?status=suspended&region=us", op, nil)
	var page struct{ Items []struct{ ID uuid.UUID } }
	res.json(t, &page)
	if res.Status != 200 || len(page.Items) != 1 || page.Items[0].ID != free[1].ID {
		t.Errorf("suspended tenants: %d %s", res.Status, res.Body)
	}
	for _, q := range []string{"plan=gold", "status=paused", "region=U", "cursor=forged", "limit=0", "sort=slug"} {
		if res := a.do("GET", "/v1/admin/tenants?"+q, op, nil); res.Status != 400 {
			t.Errorf("?%s: %d, want 400", q, res.Status)
		}
	}
}

// A plan downgrade below the tenant's usage keeps every workspace and user
// it has, refuses new ones with 409 limit-exceeded, and usage shows the
// tenant over its limits; once back under a limit, creating works again.
func TestPlanDowngradeKeepsDataRefusesCreations(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("enterprise")
	op := a.operatorToken()
	var workspaces []string
	for i := range 5 {
		res := a.do("POST", "/v1/workspaces", tn.Token, map[string]any{"name": fmt.Sprintf("ws-%d", i)})
		if res.Status != 201 {
			t.Fatalf("create workspace %d: %d %s", i, res.Status, res.Body)
		}
		var ws struct{ ID string }
		res.json(t, &ws)
		workspaces = append(workspaces, ws.ID)
	}
	for i := range 5 { // with the owner: 6 users
		if res := a.do("POST", "/v1/users", tn.Token, map[string]any{"email": fmt.Sprintf("u%d@example.com", i), "role": "member"}); res.Status != 201 {
			t.Fatalf("create user %d: %d %s", i, res.Status, res.Body)
		}
	}

	m := a.admin(op, "PUT", "/v1/admin/tenants/"+tn.ID.String()+"/plan", map[string]any{"plan": "free"}, 200)
	if m.Usage.Workspaces.Used != 5 || m.Usage.Workspaces.Limit != 3 || m.Usage.Users.Used != 6 || m.Usage.Users.Limit != 5 {
		t.Fatalf("usage after the downgrade, as the operator sees it: %+v", m.Usage)
	}
	if ws, users := a.orgUsage(tn.Token); ws != [2]int{5, 3} || users != [2]int{6, 5} {
		t.Fatalf("usage after the downgrade, as the tenant sees it: workspaces %v, users %v", ws, users)
	}
	if got := a.orgList("/v1/workspaces", tn.Token, 100); len(got) != 5 {
		t.Fatalf("workspaces after the downgrade: %d, want all 5", len(got))
	}
	for path, body := range map[string]any{
		"/v1/workspaces": map[string]any{"name": "one too many"},
		"/v1/users":      map[string]any{"email": "late@example.com", "role": "member"},
	} {
		res := a.do("POST", path, tn.Token, body)
		var p orgProblem
		res.json(t, &p)
		if res.Status != 409 || p.Type != "/problems/limit-exceeded" {
			t.Errorf("POST %s over the limit: %d %s", path, res.Status, res.Body)
		}
	}
	// Existing data still works: a workspace over the limit is renamed.
	if res := a.do("PATCH", "/v1/workspaces/"+workspaces[4], tn.Token, map[string]any{"name": "renamed"}); res.Status != 200 {
		t.Errorf("rename a workspace over the limit: %d %s", res.Status, res.Body)
	}
	for _, id := range workspaces[:3] {
		if res := a.do("DELETE", "/v1/workspaces/"+id, tn.Token, nil); res.Status != 204 {
			t.Fatalf("delete: %d %s", res.Status, res.Body)
		}
	}
	if res := a.do("POST", "/v1/workspaces", tn.Token, map[string]any{"name": "under the limit again"}); res.Status != 201 {
		t.Errorf("create under the limit again: %d %s", res.Status, res.Body)
	}
}

// Suspension refuses logins and ends every session at once, also on an
// instance that has the session cached; a resume lets users log in again,
// but the sessions it ended stay ended.
func TestSuspensionEndsSessionsAndRefusesLogins(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	bystander := a.newTenant("pro")
	op := a.operatorToken()
	other := httptest.NewServer(api.NewServer(api.Deps{Stores: a.env.DB.Stores(), Keys: a.ring.Keys,
		Logger: slog.New(slog.DiscardHandler)}, api.Config{}).Handler())
	defer other.Close()
	me := func(base, token string) int {
		req, _ := nethttp.NewRequest("GET", base+"/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := other.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := me(other.URL, tn.Token); got != 200 { // the other instance caches the session
		t.Fatalf("before: %d", got)
	}

	a.admin(op, "POST", "/v1/admin/tenants/"+tn.ID.String()+"/suspend", nil, 200)
	if got := me(other.URL, tn.Token); got != 403 {
		t.Errorf("the other instance right after the suspension: %d, want 403", got)
	}
	if res := a.do("GET", "/v1/me", tn.Token, nil); res.Status != 403 {
		t.Errorf("this instance right after the suspension: %d, want 403", res.Status)
	}
	if res := a.do("POST", "/v1/auth/login", "", map[string]any{"tenant": tn.Slug, "email": tn.Email, "password": password + tn.Slug}); res.Status != 401 {
		t.Errorf("login to a suspended tenant: %d, want 401", res.Status)
	}
	if res := a.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": tn.Refresh}); res.Status != 401 {
		t.Errorf("refresh in a suspended tenant: %d, want 401", res.Status)
	}
	if got := me(other.URL, bystander.Token); got != 200 {
		t.Errorf("another tenant's session after the suspension: %d", got)
	}
	if rows := a.superQuery(`SELECT count(*) FROM sessions WHERE tenant_id = $1 AND revoked_at IS NULL`, tn.ID); rows[0][0] != "0" {
		t.Errorf("%s sessions live after the suspension", rows[0][0])
	}

	a.admin(op, "POST", "/v1/admin/tenants/"+tn.ID.String()+"/resume", nil, 200)
	if res := a.do("GET", "/v1/me", tn.Token, nil); res.Status != 401 {
		t.Errorf("a session ended by the suspension, after the resume: %d, want 401", res.Status)
	}
	token, _ := a.login(tn.Slug, tn.Email, password+tn.Slug)
	if res := a.do("GET", "/v1/me", token, nil); res.Status != 200 {
		t.Errorf("a new login after the resume: %d", res.Status)
	}
	var statuses []string
	for _, e := range a.events(tn.ID, "tenant.updated") {
		if c, ok := e.Changes["status"].(map[string]any); ok && e.Actor.Type == tenantd.ActorOperator {
			statuses = append(statuses, fmt.Sprint(c["new"]))
		}
	}
	if fmt.Sprint(statuses) != "[suspended active]" {
		t.Errorf("status changes in the audit log: %v", statuses)
	}
}
