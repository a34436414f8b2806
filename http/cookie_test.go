package http_test

import (
	nethttp "net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd/auth"
	api "github.com/tenantd/tenantd/http"
	"github.com/tenantd/tenantd/internal/testenv"
)

// The console's session cookie: HttpOnly, SameSite=Lax, bound to one
// tenant; cookie-authenticated writes need the CSRF token; a second login
// while a session is active is refused.
func TestConsoleCookieSession(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	res := a.do("POST", "/v1/auth/login", "", map[string]any{"tenant": acme.Slug, "email": acme.Email,
		"password": password + acme.Slug, "session_cookie": true})
	if res.Status != 200 {
		t.Fatalf("login: %d %s", res.Status, res.Body)
	}
	var session, csrf *nethttp.Cookie
	for _, c := range (&nethttp.Response{Header: res.Header}).Cookies() {
		switch c.Name {
		case "tenantd_session":
			session = c
		case "tenantd_csrf":
			csrf = c
		}
	}
	if session == nil || csrf == nil {
		t.Fatalf("cookies: %v", res.Header.Values("Set-Cookie"))
	}
	if !session.HttpOnly || session.SameSite != nethttp.SameSiteLaxMode || csrf.HttpOnly {
		t.Fatalf("session cookie %+v / csrf cookie %+v", session, csrf)
	}
	if session.Secure {
		t.Fatal("Secure on a loopback test server: the cookie would never be sent back")
	}
	cookie := "tenantd_session=" + session.Value + "; tenantd_csrf=" + csrf.Value

	if res := a.do("GET", "/v1/me", "", nil, "Cookie", cookie); res.Status != 200 || !strings.Contains(string(res.Body), acme.ID.String()) {
		t.Fatalf("GET with the cookie: %d %s", res.Status, res.Body)
	}
	again := a.do("POST", "/v1/auth/login", "", map[string]any{"tenant": acme.Slug, "email": acme.Email,
		"password": password + acme.Slug, "session_cookie": true}, "Cookie", cookie)
	if again.Status != 409 {
		t.Fatalf("a second console login while a session is active: %d", again.Status)
	}
	if res := a.do("POST", "/v1/auth/logout", "", nil, "Cookie", cookie); res.Status != 403 {
		t.Fatalf("cookie write without the CSRF header: %d", res.Status)
	}
	if res := a.do("POST", "/v1/auth/logout", "", nil, "Cookie", cookie, "X-CSRF-Token", "forged"); res.Status != 403 {
		t.Fatalf("cookie write with a wrong CSRF header: %d", res.Status)
	}
	if res := a.do("POST", "/v1/auth/logout", "", nil, "Cookie", cookie, "X-CSRF-Token", csrf.Value); res.Status != 204 {
		t.Fatalf("cookie write with the CSRF header: %d %s", res.Status, res.Body)
	}
	if res := a.do("GET", "/v1/me", "", nil, "Cookie", cookie); res.Status != 401 {
		t.Fatalf("the cookie after logout: %d", res.Status)
	}
}

// consoleLogin logs in with the console cookies and returns them by name.
func (a *app) consoleLogin(tn *tenant, headers ...string) map[string]*nethttp.Cookie {
	a.t.Helper()
	res := a.do("POST", "/v1/auth/login", "", map[string]any{"tenant": tn.Slug, "email": tn.Email,
		"password": password + tn.Slug, "session_cookie": true}, headers...)
	if res.Status != 200 {
		a.t.Fatalf("console login: %d %s", res.Status, res.Body)
	}
	out := map[string]*nethttp.Cookie{}
	for _, c := range (&nethttp.Response{Header: res.Header}).Cookies() {
		out[c.Name] = c
	}
	if out["tenantd_session"] == nil || out["tenantd_csrf"] == nil {
		a.t.Fatalf("console login set %v", res.Header.Values("Set-Cookie"))
	}
	return out
}

// The CSRF token is bound to its session: a cookie and header that match
// each other but belong to another session, or were made up, are refused.
func TestCSRFTokenIsBoundToTheSession(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	mine, theirs := a.consoleLogin(acme), a.consoleLogin(acme)
	session := "tenantd_session=" + mine["tenantd_session"].Value
	write := func(csrf string) int {
		return a.do("POST", "/v1/workspaces", "", map[string]any{"name": "csrf-" + uuid.NewString()[:8]},
			"Cookie", session+"; tenantd_csrf="+csrf, "X-CSRF-Token", csrf).Status
	}
	if got := write(theirs["tenantd_csrf"].Value); got != 403 {
		t.Errorf("another session's CSRF token, cookie and header alike: %d, want 403", got)
	}
	if got := write(auth.NewSecret()); got != 403 {
		t.Errorf("an invented CSRF token, cookie and header alike: %d, want 403", got)
	}
	if got := write(mine["tenantd_csrf"].Value); got != 201 {
		t.Errorf("the session's own CSRF token: %d, want 201", got)
	}
	if mine["tenantd_csrf"].Value == theirs["tenantd_csrf"].Value {
		t.Error("two sessions got the same CSRF token")
	}
}

// Behind a TLS-terminating proxy the cookies are Secure: X-Forwarded-Proto
// counts when a trusted proxy sends it, and TENANTD_SECURE_COOKIES
// (Config.SecureCookies) forces Secure whatever the request says.
func TestSecureCookiesBehindATLSProxy(t *testing.T) {
	t.Parallel()
	forced := func(_ *testenv.Env, _ *api.Deps, c *api.Config) { c.SecureCookies = true }
	cases := []struct {
		name    string
		opts    []option
		headers []string
		secure  bool
	}{
		{"plain HTTP on loopback", nil, nil, false},
		{"X-Forwarded-Proto from a client that is no proxy", nil, []string{"X-Forwarded-Proto", "https"}, false},
		{"X-Forwarded-Proto: https from a trusted proxy", []option{behindProxy}, []string{"X-Forwarded-Proto", "https"}, true},
		{"X-Forwarded-Proto: http from a trusted proxy", []option{behindProxy}, []string{"X-Forwarded-Proto", "http"}, false},
		{"forced", []option{forced}, nil, true},
	}
	for _, c := range cases {
		a := newApp(t, c.opts...)
		acme := a.newTenant("pro")
		for name, cookie := range a.consoleLogin(acme, c.headers...) {
			if cookie.Secure != c.secure {
				t.Errorf("%s: cookie %s has Secure=%v, want %v", c.name, name, cookie.Secure, c.secure)
			}
		}
	}
}
