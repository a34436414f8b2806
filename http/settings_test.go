package http_test

import (
	"encoding/json"
	"io"
	nethttp "net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// setFeature sets an operator's override of one feature for the tenant,
// as the superuser (the operator routes are not what these tests test).
func (a *app) setFeature(tn *tenant, name string, value any) {
	a.t.Helper()
	raw, _ := json.Marshal(map[string]any{name: value})
	a.sql(`UPDATE tenants SET features = features || $2::jsonb WHERE id = $1`, tn.ID, string(raw))
}

// setLimit sets an operator's override of one limit for the tenant.
func (a *app) setLimit(tn *tenant, name string, value int) {
	a.t.Helper()
	raw, _ := json.Marshal(map[string]any{name: value})
	a.sql(`UPDATE tenants SET limits = limits || $2::jsonb WHERE id = $1`, tn.ID, string(raw))
}

// enableBetas turns every beta on for the tenant.
func (a *app) enableBetas(tn *tenant) {
	a.t.Helper()
	for _, b := range tenantd.Betas {
		a.setFeature(tn, b.Name, true)
	}
}

// settingsDoc is the settings document as a client decodes it.
type settingsDoc struct {
	TenantID uuid.UUID      `json:"tenant_id"`
	Settings map[string]any `json:"settings"`
}

func (a *app) getSettings(tn *tenant) (settingsDoc, string) {
	a.t.Helper()
	res := a.do("GET", "/v1/tenant/settings", tn.Token, nil)
	if res.Status != 200 {
		a.t.Fatalf("GET /v1/tenant/settings: %d %s", res.Status, res.Body)
	}
	var doc settingsDoc
	res.json(a.t, &doc)
	return doc, res.Header.Get("ETag")
}

// patchSettings sends a merge patch with If-Match (none when ifMatch is "").
func (a *app) patchSettings(tn *tenant, ifMatch string, body any, headers ...string) *response {
	a.t.Helper()
	h := []string{"Content-Type", "application/merge-patch+json"}
	if ifMatch != "" {
		h = append(h, "If-Match", ifMatch)
	}
	return a.do("PATCH", "/v1/tenant/settings", tn.Token, body, append(h, headers...)...)
}

func settings(members map[string]any) map[string]any { return map[string]any{"settings": members} }

// GET /v1/tenant/settings answers exactly the seed's document, defaults
// filled in, the effective limits with it, under a strong ETag that moves
// when anything it shows moves (an operator's limit too).
func TestSettingsDocument(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	res := a.do("GET", "/v1/tenant/settings", tn.Token, nil)
	if res.Status != 200 {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	want := `{"tenant_id": "` + tn.ID.String() + `", "settings": {
		"company_name": "Tenant ` + tn.Slug + `", "company_address": null, "timezone": "UTC", "date_format": "YYYY-MM-DD",
		"email_sender_name": "Tenant ` + tn.Slug + `", "default_reply_to": null,
		"branding": {"logo_url": null, "primary_color": null, "custom_domain": null},
		"limits": {"max_workspaces": 10, "max_users": 25, "email_sends_per_month": 50000}}}`
	if !sameJSON(t, res.Body, []byte(want)) {
		t.Errorf("document %s\nwant %s", res.Body, want)
	}
	etag := res.Header.Get("ETag")
	if len(etag) < 3 || etag[0] != '"' || strings.HasPrefix(etag, "W/") {
		t.Errorf("ETag %q is not a strong entity tag", etag)
	}
	if res.Header.Get("Accept-Patch") != "application/merge-patch+json" {
		t.Errorf("Accept-Patch %q", res.Header.Get("Accept-Patch"))
	}
	if _, again := a.getSettings(tn); again != etag {
		t.Errorf("the same document under two ETags: %s, %s", etag, again)
	}
	a.setLimit(tn, "max_users", 7)
	doc, moved := a.getSettings(tn)
	if moved == etag || doc.Settings["limits"].(map[string]any)["max_users"] != float64(7) {
		t.Errorf("after an operator's max_users override: ETag %s (was %s), limits %v", moved, etag, doc.Settings["limits"])
	}
}

func sameJSON(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// PATCH is a JSON merge patch under If-Match: members replace, null unsets
// (the default comes back), branding merges; each change is one
// settings.updated event with the old and new value of what changed.
func TestSettingsMergePatchThroughTheAPI(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("enterprise")
	_, etag := a.getSettings(tn)

	res := a.patchSettings(tn, etag, settings(map[string]any{
		"company_name": "Acme Marketing", "company_address": "123 Main St, SF, CA", "timezone": "America/Los_Angeles",
		"date_format": "MM/DD/YYYY", "email_sender_name": "Acme Team", "default_reply_to": "hello@acme.com",
		"branding": map[string]any{"logo_url": "https://cdn.acme.com/logo.png", "primary_color": "#007BFF", "custom_domain": "mail.acme.com"},
	}))
	if res.Status != 200 {
		t.Fatalf("patch: %d %s", res.Status, res.Body)
	}
	etag2 := res.Header.Get("ETag")
	if doc, got := a.getSettings(tn); got != etag2 || etag2 == etag || doc.Settings["timezone"] != "America/Los_Angeles" {
		t.Errorf("after the patch: ETag %s (PATCH said %s, before %s), %v", got, etag2, etag, doc.Settings)
	}

	// null unsets; branding merges member by member.
	res = a.patchSettings(tn, etag2, settings(map[string]any{
		"company_name": nil, "timezone": nil, "branding": map[string]any{"custom_domain": nil, "primary_color": "#112233"}}))
	if res.Status != 200 {
		t.Fatalf("second patch: %d %s", res.Status, res.Body)
	}
	var doc settingsDoc
	res.json(t, &doc)
	s, b := doc.Settings, doc.Settings["branding"].(map[string]any)
	if s["company_name"] != "Tenant "+tn.Slug || s["timezone"] != "UTC" || s["email_sender_name"] != "Acme Team" ||
		s["date_format"] != "MM/DD/YYYY" || b["custom_domain"] != nil || b["primary_color"] != "#112233" ||
		b["logo_url"] != "https://cdn.acme.com/logo.png" {
		t.Errorf("after null and a nested merge: %v", s)
	}

	events := a.events(tn.ID, tenantd.ActionSettingsUpdated)
	if len(events) != 2 {
		t.Fatalf("%d settings.updated events, want 2", len(events))
	}
	last := events[1]
	if last.Actor.ID != tn.OwnerID.String() || last.Target != (tenantd.Target{Type: "settings", ID: tn.ID.String()}) {
		t.Errorf("event actor %+v target %+v", last.Actor, last.Target)
	}
	wantChanges := `{"company_name": {"old": "Acme Marketing"}, "timezone": {"old": "America/Los_Angeles"},
		"custom_domain": {"old": "mail.acme.com"}, "primary_color": {"old": "#007bff", "new": "#112233"}}`
	if got, _ := json.Marshal(last.Changes); !sameJSON(t, got, []byte(wantChanges)) {
		t.Errorf("changes %s\nwant %s", got, wantChanges)
	}

	// A patch that changes nothing stores nothing and records nothing.
	if res := a.patchSettings(tn, res.Header.Get("ETag"), settings(map[string]any{"date_format": "MM/DD/YYYY"})); res.Status != 200 {
		t.Errorf("a patch to the same value: %d", res.Status)
	}
	if n := len(a.events(tn.ID, tenantd.ActionSettingsUpdated)); n != 2 {
		t.Errorf("%d settings.updated events after a patch that changed nothing", n)
	}
}

// The refusals, each changing nothing: no If-Match (428), a stale one
// (412), another media type (415), invalid members (422, every one listed),
// limits (403, flagged), branding without custom_branding (403).
func TestSettingsPatchRefusals(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro") // no custom_branding
	_, etag := a.getSettings(tn)
	stored := func() string {
		return a.superQuery(`SELECT s::text FROM tenant_settings s WHERE tenant_id = $1`, tn.ID)[0][0]
	}
	before := stored()
	ok := settings(map[string]any{"company_name": "Fine"})

	cases := []struct {
		name    string
		ifMatch string
		body    any
		headers []string
		status  int
		problem string
	}{
		{"no If-Match", "", ok, nil, 428, "/problems/precondition-required"},
		{"stale If-Match", `"not-the-current-version"`, ok, nil, 412, "/problems/precondition-failed"},
		{"weak If-Match", "W/" + etag, ok, nil, 412, "/problems/precondition-failed"},
		{"application/json", etag, ok, []string{"Content-Type", "application/json"}, 415, "/problems/unsupported-media-type"},
		{"not JSON", etag, `{"settings": `, nil, 400, "/problems/bad-request"},
		{"invalid members", etag, settings(map[string]any{"timezone": "Mars/Base", "colour": "red", "date_format": 1}), nil, 422, "/problems/validation-failed"},
		{"limits", etag, settings(map[string]any{"limits": map[string]any{"max_users": 1000}}), nil, 403, "/problems/forbidden"},
		{"limits without If-Match", "", settings(map[string]any{"limits": nil}), nil, 403, "/problems/forbidden"},
		{"branding without custom_branding", etag, settings(map[string]any{"branding": map[string]any{"primary_color": "#000000"}}), nil, 403, "/problems/forbidden"},
	}
	for _, c := range cases {
		res := a.patchSettings(tn, c.ifMatch, c.body, c.headers...)
		var p struct {
			Type   string               `json:"type"`
			Errors []tenantd.FieldError `json:"errors"`
		}
		json.Unmarshal(res.Body, &p)
		if res.Status != c.status || p.Type != c.problem {
			t.Errorf("%s: %d %s, want %d %s", c.name, res.Status, res.Body, c.status, c.problem)
		}
		if c.name == "invalid members" {
			var pointers []string
			for _, e := range p.Errors {
				pointers = append(pointers, e.Pointer)
			}
			sort.Strings(pointers)
			if want := []string{"/settings/colour", "/settings/date_format", "/settings/timezone"}; !reflect.DeepEqual(pointers, want) {
				t.Errorf("invalid members: pointers %v, want %v", pointers, want)
			}
		}
		if stored() != before {
			t.Fatalf("%s: the settings changed", c.name)
		}
	}
	if got := a.flagged(tn.ID, tenantd.FlagLimitsChange); len(got) != 2 {
		t.Errorf("%d events flagged limits_change, want 2", len(got))
	}
	if n := len(a.events(tn.ID, tenantd.ActionSettingsUpdated)); n != 0 {
		t.Errorf("%d settings.updated events", n)
	}

	// With the feature, the same branding patch passes.
	a.setFeature(tn, tenantd.FeatureCustomBranding, true)
	_, etag = a.getSettings(tn)
	if res := a.patchSettings(tn, etag, settings(map[string]any{"branding": map[string]any{"primary_color": "#000000"}})); res.Status != 200 {
		t.Errorf("branding with custom_branding: %d %s", res.Status, res.Body)
	}
}

// Two patches made from the same version: exactly one is stored, the
// other answers 412, whatever their order.
func TestSettingsConcurrentPatches(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	_, etag := a.getSettings(tn)
	const n = 4
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = a.patchSettings(tn, etag, settings(map[string]any{"company_name": "Writer " + string(rune('A'+i))})).Status
		}()
	}
	wg.Wait()
	sort.Ints(statuses)
	if statuses[0] != 200 || statuses[1] != 412 || statuses[n-1] != 412 {
		t.Errorf("statuses %v, want one 200 and the rest 412", statuses)
	}
	if got := len(a.events(tn.ID, tenantd.ActionSettingsUpdated)); got != 1 {
		t.Errorf("%d settings.updated events, want 1", got)
	}
}

// GET /v1/tenant/features: every feature with its value and source.
func TestFeaturesList(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("free")
	a.setFeature(tn, tenantd.FeatureAPIRateLimit, map[string]int{"rate": 100000, "period_seconds": 60, "burst": 1000})
	a.setFeature(tn, tenantd.BetaSettingsHistory, true)
	res := a.do("GET", "/v1/tenant/features", tn.Token, nil)
	if res.Status != 200 {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	var page struct {
		Items []struct {
			Name   string          `json:"name"`
			Value  json.RawMessage `json:"value"`
			Source string          `json:"source"`
		} `json:"items"`
	}
	res.json(t, &page)
	got := map[string]string{}
	for _, f := range page.Items {
		var v any
		json.Unmarshal(f.Value, &v)
		b, _ := json.Marshal(v)
		got[f.Name] = string(b) + " " + f.Source
	}
	want := map[string]string{
		"custom_branding":           "false plan",
		"api_rate_limit":            `{"burst":1000,"period_seconds":60,"rate":100000} override`,
		"data_retention":            `{"audit_days":90,"deleted_days":30,"send_days":90} plan`,
		tenantd.BetaSettingsHistory: "true override",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("features %v\nwant     %v", got, want)
	}
}

// A beta route answers a tenant without its feature exactly as a route
// that does not exist, on any method, and the tenant's /openapi.yaml does
// not show it; with the feature it works and is shown.
func TestBetaRoutes(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	without, with := a.newTenant("enterprise"), a.newTenant("enterprise")
	a.enableBetas(with)
	holder := a.populate(with, "beta")
	var betas int
	for _, rt := range a.srv.Routes() {
		if rt.Beta == "" {
			continue
		}
		betas++
		if !tenantd.IsBeta(rt.Beta) {
			t.Errorf("%s %s: %s is not a registered beta", rt.Method, rt.Pattern, rt.Beta)
		}
		path, _ := pathFor(t, rt.Pattern, holder)
		unknown := a.do(rt.Method, "/v1/no-such-route", without.Token, nil)
		hidden := a.do(rt.Method, path, without.Token, nil)
		var p1, p2 map[string]any
		unknown.json(t, &p1)
		hidden.json(t, &p2)
		delete(p1, "instance")
		delete(p1, "request_id")
		delete(p2, "instance")
		delete(p2, "request_id")
		if hidden.Status != 404 || !reflect.DeepEqual(p1, p2) {
			t.Errorf("%s %s without the beta: %d %v, want what an unknown route answers: %d %v", rt.Method, path, hidden.Status, p2, unknown.Status, p1)
		}
		if res := a.do("POST", path, without.Token, map[string]any{}); res.Status != 404 {
			t.Errorf("POST %s: %d, want 404 (not 405: the path is not there)", path, res.Status)
		}
		if res := a.do(rt.Method, path, with.Token, nil); res.Status/100 != 2 {
			t.Errorf("%s %s with the beta: %d %s", rt.Method, path, res.Status, res.Body)
		}
		for _, c := range []struct {
			who   string
			token string
			shown bool
		}{{"no token", "", false}, {"a bad token", "x.y.z", false}, {"without the beta", without.Token, false}, {"with the beta", with.Token, true}} {
			res := a.raw2("GET", "/openapi.yaml", c.token)
			if shown := strings.Contains(string(res.Body), "\n  "+rt.Pattern+":\n"); res.Status != 200 || shown != c.shown {
				t.Errorf("/openapi.yaml for %s: %d, shows %s: %v, want %v", c.who, res.Status, rt.Pattern, shown, c.shown)
			}
			if !strings.Contains(string(res.Body), "\n  /v1/tenant/settings:\n") {
				t.Errorf("/openapi.yaml for %s lost a route that is not beta", c.who)
			}
		}
	}
	if betas == 0 {
		t.Error("no route is a beta")
	}
}

// raw2 sends a request with an optional bearer token, without OpenAPI
// validation (for /openapi.yaml itself).
func (a *app) raw2(method, path, token string) *response {
	a.t.Helper()
	req, _ := nethttp.NewRequest(method, a.ts.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := a.ts.Client().Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return &response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// The settings history (a beta) is the settings.updated events, newest
// first.
func TestSettingsHistory(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	a.enableBetas(tn)
	for _, tz := range []string{"Europe/Paris", "Asia/Tokyo"} {
		_, etag := a.getSettings(tn)
		if res := a.patchSettings(tn, etag, settings(map[string]any{"timezone": tz})); res.Status != 200 {
			t.Fatal(res.Status)
		}
	}
	res := a.do("GET", "/v1/tenant/settings/history?limit=1", tn.Token, nil)
	var page struct {
		Items      []tenantd.AuditEvent `json:"items"`
		NextCursor *string              `json:"next_cursor"`
	}
	res.json(t, &page)
	if res.Status != 200 || len(page.Items) != 1 || page.NextCursor == nil ||
		page.Items[0].Action != tenantd.ActionSettingsUpdated || page.Items[0].Changes["timezone"] == nil {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	if tz := page.Items[0].Changes["timezone"].(map[string]any); tz["new"] != "Asia/Tokyo" || tz["old"] != "Europe/Paris" {
		t.Errorf("newest change %v", tz)
	}
}
