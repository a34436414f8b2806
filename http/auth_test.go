package http_test

import (
	"testing"
)

func TestLoginAndMe(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	res := a.do("GET", "/v1/me", acme.Token, nil)
	if res.Status != 200 {
		t.Fatalf("me: %d %s", res.Status, res.Body)
	}
	var me struct {
		User   struct{ ID, Email, Role string }
		Tenant struct{ ID, Slug, Name string }
	}
	res.json(t, &me)
	if me.Tenant.ID != acme.ID.String() || me.User.ID != acme.OwnerID.String() || me.User.Role != "owner" || me.Tenant.Slug != acme.Slug {
		t.Fatalf("me = %+v", me)
	}
	if got := a.events(acme.ID, "auth.login.succeeded"); len(got) != 1 {
		t.Fatalf("login events: %v", got)
	}
}
