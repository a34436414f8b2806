package http_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// A known path with the wrong method is 405 with Allow; an unknown path is
// 404; both are problems carrying the request id.
func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	for _, c := range []struct{ method, path, allow string }{
		{"DELETE", "/v1/workspaces", "GET, HEAD, POST"},
		{"PUT", "/v1/me", "GET, HEAD"},
		{"GET", "/v1/auth/login", "POST"},
	} {
		res := a.do(c.method, c.path, tn.Token, nil)
		if res.Status != 405 || res.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 Allow %q", c.method, c.path, res.Status, res.Header.Get("Allow"), c.allow)
		}
		checkProblemRequestID(t, res)
	}
	res := a.do("GET", "/v1/no-such-thing", tn.Token, nil)
	if res.Status != 404 {
		t.Errorf("unknown path: %d, want 404", res.Status)
	}
	checkProblemRequestID(t, res)
}

// A JSON route given another media type is 415 and stores nothing.
func TestUnsupportedMediaType(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/xml", "nonsense/"} {
		res := a.do("POST", "/v1/workspaces", tn.Token, `{"name":"typed"}`, "Content-Type", ct)
		if res.Status != 415 {
			t.Errorf("Content-Type %s: %d, want 415", ct, res.Status)
		}
		checkProblemRequestID(t, res)
	}
	if n := a.workspaceCount(tn); n != "0" {
		t.Fatalf("%s workspaces created by refused requests", n)
	}
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", ""} {
		res := a.do("POST", "/v1/workspaces", tn.Token, `{"name":"ok `+ct+`"}`, "Content-Type", ct)
		if res.Status != 201 {
			t.Errorf("Content-Type %q: %d, want 201: %s", ct, res.Status, res.Body)
		}
	}
}

func checkProblemRequestID(t *testing.T, res *response) {
	t.Helper()
	var p struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(res.Body, &p); err != nil || p.RequestID == "" ||
		!strings.EqualFold(p.RequestID, res.Header.Get("X-Request-ID")) {
		t.Errorf("problem request_id %q, header %q (%v)", p.RequestID, res.Header.Get("X-Request-ID"), err)
	}
}

// Every 401 carries a Bearer challenge (RFC 9110, RFC 6750): without an
// error code when no token came, invalid_token when one was refused; the
// public routes' 401s too.
func TestUnauthorizedCarriesAChallenge(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	for _, c := range []struct {
		method, path, token string
		body                any
		want                string
	}{
		{"GET", "/v1/me", "", nil, `Bearer realm="tenantd"`},
		{"GET", "/v1/me", acme.Token + "x", nil, `Bearer realm="tenantd", error="invalid_token"`},
		{"GET", "/v1/workspaces", "not.a.jwt", nil, `Bearer realm="tenantd", error="invalid_token"`},
		{"POST", "/v1/auth/login", "", map[string]any{"tenant": acme.Slug, "email": acme.Email, "password": "wrong password!"}, `Bearer realm="tenantd"`},
		{"POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": "rt1.x"}, `Bearer realm="tenantd"`},
	} {
		res := a.do(c.method, c.path, c.token, c.body)
		if res.Status != 401 || res.Header.Get("WWW-Authenticate") != c.want {
			t.Errorf("%s %s: %d, WWW-Authenticate %q, want 401 with %q", c.method, c.path, res.Status, res.Header.Get("WWW-Authenticate"), c.want)
		}
	}
}

// One query-parameter policy for every route: what a route does not take is
// a 400, never silently ignored; a repeated parameter too. tenant_id naming
// the caller's own tenant is taken everywhere.
func TestUnknownQueryParametersAreRefused(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	for _, path := range []string{"/v1/users?limt=5", "/v1/workspaces?status=active", "/v1/me?verbose=1",
		"/v1/tenant/usage?x=1", "/v1/audit-events?acton=login.failed", "/v1/users?limit=5&limit=6", "/healthz?x=1"} {
		res := a.do("GET", path, tn.Token, nil)
		if res.Status != 400 {
			t.Errorf("GET %s: %d, want 400: %s", path, res.Status, res.Body)
		}
	}
	for _, path := range []string{"/v1/users?limit=5", "/v1/me?tenant_id=" + tn.ID.String(), "/v1/workspaces?cursor="} {
		if res := a.do("GET", path, tn.Token, nil); res.Status != 200 {
			t.Errorf("GET %s: %d, want 200: %s", path, res.Status, res.Body)
		}
	}
}
