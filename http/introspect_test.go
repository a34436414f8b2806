package http_test

import (
	"net/url"
	"testing"

	"github.com/tenantd/tenantd"
)

func (a *app) introspect(caller, token string) map[string]any {
	a.t.Helper()
	res := a.do("POST", "/v1/auth/introspect", caller, "token="+url.QueryEscape(token),
		"Content-Type", "application/x-www-form-urlencoded")
	if res.Status != 200 {
		a.t.Fatalf("introspect: %d %s", res.Status, res.Body)
	}
	var out map[string]any
	res.json(a.t, &out)
	return out
}

// A token is active until its session ends, and introspection sees the
// logout at once, which verifying the JWT locally cannot.
func TestIntrospectSeesLogoutAtOnce(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	target, _ := a.login(tn.Slug, tn.Email, password+tn.Slug)

	got := a.introspect(tn.Token, target)
	if got["active"] != true || got["tid"] != tn.ID.String() || got["sub"] != tn.OwnerID.String() || got["role"] != "owner" {
		t.Fatalf("live token: %v", got)
	}
	if res := a.do("POST", "/v1/auth/logout", target, nil); res.Status/100 != 2 {
		t.Fatalf("logout: %d %s", res.Status, res.Body)
	}
	if got := a.introspect(tn.Token, target); got["active"] != false || len(got) != 1 {
		t.Fatalf("after logout: %v, want only active=false", got)
	}
	for _, bad := range []string{"garbage", target + "x", a.expiredToken(tn)} {
		if got := a.introspect(tn.Token, bad); got["active"] != false || len(got) != 1 {
			t.Errorf("introspect %.20s…: %v, want only active=false", bad, got)
		}
	}
}

// A tenant learns nothing about another tenant's tokens, and the attempt
// is flagged.
func TestIntrospectOtherTenantsTokenIsInactiveAndFlagged(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	A, B := a.newTenant("pro"), a.newTenant("pro")
	if got := a.introspect(A.Token, B.Token); got["active"] != false || len(got) != 1 {
		t.Fatalf("B's live token introspected by A: %v", got)
	}
	if n := len(a.flagged(A.ID, tenantd.FlagTenantMismatch)); n != 1 {
		t.Errorf("%d tenant_mismatch events in A's log, want 1", n)
	}
	if got := a.introspect(B.Token, B.Token); got["active"] != true {
		t.Errorf("B's token for B: %v", got)
	}
}

func TestIntrospectRefusesBadRequests(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	cases := []struct {
		name, ctype, body string
		want              int
	}{
		{"JSON instead of a form", "application/json", `{"token":"x"}`, 415},
		{"no token", "application/x-www-form-urlencoded", "token_type_hint=access_token", 422},
		{"bad form", "application/x-www-form-urlencoded", "token=%zz", 400},
	}
	for _, c := range cases {
		res := a.do("POST", "/v1/auth/introspect", tn.Token, c.body, "Content-Type", c.ctype)
		if res.Status != c.want {
			t.Errorf("%s: got %d, want %d: %s", c.name, res.Status, c.want, res.Body)
		}
	}
	if res := a.do("POST", "/v1/auth/introspect", "", "token=x", "Content-Type", "application/x-www-form-urlencoded"); res.Status != 401 {
		t.Errorf("no caller token: got %d, want 401", res.Status)
	}
}
