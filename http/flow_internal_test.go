package http

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/auth"
)

// Step 1.
func TestExtractToken(t *testing.T) {
	cases := []struct {
		header, cookie string
		want           string
		fromCookie     bool
		ok             bool
	}{
		{header: "Bearer abc", want: "abc", ok: true},
		{header: "bearer abc", want: "abc", ok: true},
		{header: "Basic abc"},
		{header: "Bearer"},
		{header: "Bearer " + strings.Repeat("a", maxTokenBytes+1)},
		{cookie: "tok", want: "tok", fromCookie: true, ok: true},
		{header: "Bearer h", cookie: "c", want: "h", ok: true},
		{},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		if c.header != "" {
			r.Header.Set("Authorization", c.header)
		}
		if c.cookie != "" {
			r.AddCookie(&http.Cookie{Name: sessionCookie, Value: c.cookie})
		}
		tok, fromCookie, err := extractToken(r)
		if (err == nil) != c.ok || tok != c.want || fromCookie != c.fromCookie {
			t.Errorf("%+v: got %q %v %v", c, tok, fromCookie, err)
		}
	}
}

// Step 3.
func TestExtractTenant(t *testing.T) {
	tid, uid, sid := uuid.New(), uuid.New(), uuid.New()
	c := auth.Claims{TenantID: tid, SessionID: sid}
	c.Subject = uid.String()
	gt, gu, gs, err := extractTenant(c)
	if err != nil || gt != tid || gu != uid || gs != sid {
		t.Fatalf("got %v %v %v %v", gt, gu, gs, err)
	}
	for _, bad := range []auth.Claims{{TenantID: uuid.Nil, SessionID: sid}, {TenantID: tid}} {
		bad.Subject = uid.String()
		if _, _, _, err := extractTenant(bad); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

// Between steps 4 and 5.
func TestRejectForeignTenant(t *testing.T) {
	me, other := uuid.New(), uuid.New()
	cases := []struct {
		name   string
		req    func() *http.Request
		reject bool
	}{
		{"nothing named", func() *http.Request { return httptest.NewRequest("GET", "/v1/me", nil) }, false},
		{"own tenant header", func() *http.Request {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("X-Tenant-ID", me.String())
			return r
		}, false},
		{"other tenant header", func() *http.Request {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("X-Tenant-ID", other.String())
			return r
		}, true},
		{"garbage header", func() *http.Request {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("X-Tenant-ID", "acme")
			return r
		}, true},
		{"other tenant query", func() *http.Request { return httptest.NewRequest("GET", "/?tenant_id="+other.String(), nil) }, true},
		{"other tenant body", func() *http.Request {
			return httptest.NewRequest("POST", "/", strings.NewReader(`{"name":"x","tenant_id":"`+other.String()+`"}`))
		}, true},
		{"non-string tenant body", func() *http.Request {
			return httptest.NewRequest("POST", "/", strings.NewReader(`{"tenant_id":42}`))
		}, true},
		{"own tenant body", func() *http.Request {
			return httptest.NewRequest("POST", "/", strings.NewReader(`{"tenant_id":"`+me.String()+`"}`))
		}, false},
	}
	for _, c := range cases {
		r := c.req()
		body, _ := readBody(r, maxBodyBytes)
		err := rejectForeignTenant(r, me, body, nil)
		if (err != nil) != c.reject {
			t.Errorf("%s: err %v", c.name, err)
		}
		if err != nil {
			ae, ok := err.(*authError)
			if !ok || ae.code != tenantd.EFORBIDDEN || ae.flag != tenantd.FlagTenantMismatch {
				t.Errorf("%s: %#v, want a flagged 403", c.name, err)
			}
		}
	}
}

func TestCSRFForCookieWrites(t *testing.T) {
	tokens, err := auth.NewCSRFTokens(make([]byte, auth.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	session := uuid.New()
	r := httptest.NewRequest("POST", "/", nil)
	if checkCSRF(tokens, r, session) == nil {
		t.Fatal("cookie write without CSRF token accepted")
	}
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: "secret"})
	r.Header.Set("X-CSRF-Token", "secret")
	if checkCSRF(tokens, r, session) == nil {
		t.Fatal("a matching cookie and header that are not the session's token accepted")
	}
	r.Header.Set("X-CSRF-Token", tokens.Token(uuid.New()))
	if checkCSRF(tokens, r, session) == nil {
		t.Fatal("another session's CSRF token accepted")
	}
	r.Header.Set("X-CSRF-Token", tokens.Token(session))
	if err := checkCSRF(tokens, r, session); err != nil {
		t.Fatal(err)
	}
	if err := checkCSRF(tokens, httptest.NewRequest("GET", "/", nil), session); err != nil {
		t.Fatal("reads need no CSRF token")
	}
}

func TestClientIPHonoursOnlyTrustedProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "203.0.113.9:4000"
	r.Header.Set("X-Forwarded-For", "1.2.3.4")
	if got := clientIP(r, trusted); got != "203.0.113.9" {
		t.Fatalf("untrusted peer: %s", got)
	}
	r.RemoteAddr = "10.1.2.3:4000"
	r.Header.Set("X-Forwarded-For", "6.6.6.6, 198.51.100.7, 10.9.9.9")
	if got := clientIP(r, trusted); got != "198.51.100.7" {
		t.Fatalf("through trusted proxies: %s", got)
	}
}

func TestDecodeJSONIsStrict(t *testing.T) {
	var v struct {
		Name string `json:"name"`
	}
	for _, body := range []string{``, `{`, `[]`, `{"name":1}`, `{"name":"a","x":1}`, `{"name":"a"} {}`,
		"{\"name\":\"\xff\"}", `{"name":"a\u0000b"}`} {
		err := decodeJSONBytes([]byte(body), &v)
		if tenantd.ErrorCode(err) != tenantd.EBADREQUEST {
			t.Errorf("%q: %v, want bad_request", body, err)
		}
	}
	if err := decodeJSONBytes([]byte(`{"name":"ok"}`), &v); err != nil || v.Name != "ok" {
		t.Fatal(err)
	}
}
