package http_test

import (
	nethttp "net/http"
	"strings"
	"testing"
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
