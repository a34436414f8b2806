package http_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
)

// Deactivating a user revokes every one of their sessions at once: their
// tokens are refused as soon as DELETE returns (not a second later), their
// refresh token and password too; the audit history stays.
func TestDeactivationRevokesSessionsAtOnce(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	pw := "a long and private passphrase"
	res := a.do("POST", "/v1/users", tn.Token, map[string]any{"email": "leaver@example.com", "role": "admin", "password": pw})
	if res.Status != 201 {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	var u struct {
		ID     uuid.UUID
		Status string
	}
	res.json(t, &u)
	if u.Status != "active" {
		t.Fatalf("a user created with a password is %q", u.Status)
	}
	token, refresh := a.login(tn.Slug, "leaver@example.com", pw)
	second := a.orgToken(tn.ID, u.ID)
	for _, tok := range []string{token, second} {
		if res := a.do("GET", "/v1/workspaces", tok, nil); res.Status != 200 { // and cached
			t.Fatalf("before: %d %s", res.Status, res.Body)
		}
	}
	_, usersBefore := a.orgUsage(tn.Token)

	if res := a.do("DELETE", "/v1/users/"+u.ID.String(), tn.Token, nil); res.Status != 204 {
		t.Fatalf("deactivate: %d %s", res.Status, res.Body)
	}
	for _, tok := range []string{token, second} {
		if res := a.do("GET", "/v1/workspaces", tok, nil); res.Status != 401 {
			t.Errorf("right after deactivation: %d, want 401", res.Status)
		}
	}
	if res := a.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": refresh}); res.Status != 401 {
		t.Errorf("refresh after deactivation: %d, want 401", res.Status)
	}
	if res := a.do("POST", "/v1/auth/login", "", map[string]any{"tenant": tn.Slug, "email": "leaver@example.com", "password": pw}); res.Status != 401 {
		t.Errorf("login after deactivation: %d, want 401", res.Status)
	}
	var live string
	a.superScan(`SELECT count(*)::text FROM sessions WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL`, []any{tn.ID, u.ID}, &live)
	if live != "0" {
		t.Errorf("%s sessions still live", live)
	}
	if _, users := a.orgUsage(tn.Token); users[0] != usersBefore[0]-1 {
		t.Errorf("users used %d after deactivation, was %d", users[0], usersBefore[0])
	}
	res = a.do("GET", "/v1/users/"+u.ID.String(), tn.Token, nil)
	res.json(t, &u)
	if res.Status != 200 || u.Status != "deactivated" {
		t.Errorf("the deactivated user reads %d %q", res.Status, u.Status)
	}
	if res := a.do("PATCH", "/v1/users/"+u.ID.String(), tn.Token, map[string]any{"disabled": false}); res.Status != 409 {
		t.Errorf("re-enabling a deactivated user: %d, want 409", res.Status)
	}
	if len(a.events(tn.ID, "user.deactivated")) != 1 || len(a.events(tn.ID, "user.created")) != 2 {
		t.Error("the user's history is not kept")
	}
}

// Disabling revokes the sessions too; re-enabling lets the user log in
// again (but the old sessions stay dead).
func TestDisableAndReenable(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	id := a.orgUser(tn.ID, "member")
	token := a.orgToken(tn.ID, id)
	if res := a.do("GET", "/v1/workspaces", token, nil); res.Status != 200 {
		t.Fatalf("before: %d", res.Status)
	}
	var u struct{ Status string }
	res := a.do("PATCH", "/v1/users/"+id.String(), tn.Token, map[string]any{"disabled": true})
	res.json(t, &u)
	if res.Status != 200 || u.Status != "disabled" {
		t.Fatalf("disable: %d %s", res.Status, res.Body)
	}
	if res := a.do("GET", "/v1/workspaces", token, nil); res.Status != 401 {
		t.Errorf("right after disabling: %d, want 401", res.Status)
	}
	a.do("PATCH", "/v1/users/"+id.String(), tn.Token, map[string]any{"disabled": false}).json(t, &u)
	if u.Status != "active" {
		t.Errorf("re-enabled user is %q", u.Status)
	}
	if res := a.do("GET", "/v1/workspaces", token, nil); res.Status != 401 {
		t.Errorf("a session revoked by disabling came back: %d", res.Status)
	}
	if res := a.do("GET", "/v1/workspaces", a.orgToken(tn.ID, id), nil); res.Status != 200 {
		t.Errorf("a new session after re-enabling: %d", res.Status)
	}
}

// The last active owner can be neither demoted, disabled nor deactivated,
// not even by two owners demoting each other at the same moment (which
// must not deadlock either).
func TestLastOwnerStays(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	me := "/v1/users/" + tn.OwnerID.String()
	refuse := func(what string) {
		t.Helper()
		for _, c := range []struct {
			method string
			body   any
		}{{"PATCH", map[string]any{"role": "admin"}}, {"PATCH", map[string]any{"disabled": true}}, {"DELETE", nil}} {
			res := a.do(c.method, me, tn.Token, c.body)
			var p orgProblem
			res.json(t, &p)
			if res.Status != 409 || p.Type != "/problems/conflict" {
				t.Errorf("%s: %s %v on the last owner: %d %s", what, c.method, c.body, res.Status, res.Body)
			}
		}
	}
	refuse("alone")
	// An invited owner is not an active one.
	if res := a.do("POST", "/v1/users", tn.Token, map[string]any{"email": "heir@example.com", "role": "owner"}); res.Status != 201 {
		t.Fatalf("invite an owner: %d %s", res.Status, res.Body)
	}
	refuse("with an invited owner")
	if res := a.do("GET", "/v1/me", tn.Token, nil); res.Status != 200 {
		t.Fatalf("the owner lost access: %d", res.Status)
	}

	// Two active owners demote each other at once: exactly one wins.
	for round := range 3 {
		second := a.orgUser(tn.ID, "owner")
		tokens := map[uuid.UUID]string{tn.OwnerID: a.orgToken(tn.ID, tn.OwnerID), second: a.orgToken(tn.ID, second)}
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		for caller, target := range map[uuid.UUID]uuid.UUID{tn.OwnerID: second, second: tn.OwnerID} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := a.do("PATCH", "/v1/users/"+target.String(), tokens[caller], map[string]any{"role": "admin"})
				mu.Lock()
				statuses[res.Status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		// The loser is refused by the last-owner rule (409), or, when its
		// request is authenticated after the winner's, as the admin it has
		// just become (403).
		if statuses[200] != 1 || statuses[409]+statuses[403] != 1 {
			t.Fatalf("round %d: mutual demotion: %v, want one 200 and one 409 or 403", round, statuses)
		}
		var owners string
		a.superScan(`SELECT string_agg(id::text, ',') FROM users WHERE tenant_id = $1 AND role = 'owner' AND status = 'active'`,
			[]any{tn.ID}, &owners)
		if strings.Count(owners, ",") != 0 {
			t.Fatalf("round %d: active owners %s, want one", round, owners)
		}
		if owners != tn.OwnerID.String() {
			// The second owner won: give the first back its role, as it.
			a.sql(`UPDATE users SET role = 'owner' WHERE tenant_id = $1 AND id = $2`, tn.ID, tn.OwnerID)
			a.sql(`UPDATE users SET status = 'deactivated' WHERE tenant_id = $1 AND id = $2`, tn.ID, second)
		}
		tn.Token = a.orgToken(tn.ID, tn.OwnerID)
	}
}

// orgInvite invites a user and returns their id and invitation token.
func (a *app) orgInvite(token, email, role string) (uuid.UUID, string) {
	a.t.Helper()
	res := a.do("POST", "/v1/users", token, map[string]any{"email": email, "role": role})
	if res.Status != 201 {
		a.t.Fatalf("invite %s: %d %s", email, res.Status, res.Body)
	}
	var u struct {
		ID         uuid.UUID
		Status     string
		Invitation struct{ Token string }
	}
	res.json(a.t, &u)
	if u.Status != "invited" || !strings.HasPrefix(u.Invitation.Token, "inv1.") {
		a.t.Fatalf("invite: %s", res.Body)
	}
	return u.ID, u.Invitation.Token
}

// An invitation is accepted once, with a good password, before it
// expires, with its exact secret; only its hash is stored.
func TestInvitations(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	id, token := a.orgInvite(tn.Token, "new@example.com", "member")
	secret := token[strings.LastIndex(token, ".")+1:]
	var stored string
	a.superScan(`SELECT count(*)::text FROM invitations WHERE tenant_id = $1 AND encode(token_hash, 'escape') LIKE '%' || $2 || '%'`,
		[]any{tn.ID, secret}, &stored)
	if stored != "0" {
		t.Fatal("the invitation secret is stored in clear")
	}
	if res := a.do("POST", "/v1/auth/login", "", map[string]any{"tenant": tn.Slug, "email": "new@example.com", "password": "anything at all"}); res.Status != 401 {
		t.Fatalf("an invited user logged in without a password: %d", res.Status)
	}
	pw := "my own good passphrase"
	wrong := token[:strings.LastIndex(token, ".")+1] + strings.Repeat("A", len(secret))
	for name, c := range map[string]struct {
		token, password string
		status          int
	}{
		"malformed":        {"inv1.nope", pw, 401},
		"wrong secret":     {wrong, pw, 401},
		"unknown tenant":   {strings.Replace(token, tn.ID.String(), uuid.NewString(), 1), pw, 401},
		"weak password":    {token, "short", 422},
		"common password":  {token, "password1234", 422},
		"missing password": {token, "", 422},
	} {
		if res := a.do("POST", "/v1/auth/accept-invite", "", map[string]any{"token": c.token, "password": c.password}); res.Status != c.status {
			t.Errorf("%s: %d, want %d: %s", name, res.Status, c.status, res.Body)
		}
	}
	if got := a.events(tn.ID, "invitation.denied"); len(got) != 1 || got[0].Actor.ID != id.String() {
		t.Errorf("wrong-secret attempts recorded: %+v", got)
	}

	res := a.do("POST", "/v1/auth/accept-invite", "", map[string]any{"token": token, "password": pw})
	if res.Status != 200 {
		t.Fatalf("accept: %d %s", res.Status, res.Body)
	}
	var out struct {
		User   struct{ ID, Status string }
		Tenant struct{ Slug string }
	}
	res.json(t, &out)
	if out.User.ID != id.String() || out.User.Status != "active" || out.Tenant.Slug != tn.Slug {
		t.Fatalf("accept: %s", res.Body)
	}
	if res := a.do("POST", "/v1/auth/accept-invite", "", map[string]any{"token": token, "password": "another passphrase!"}); res.Status != 401 {
		t.Errorf("second use: %d, want 401", res.Status)
	}
	memberToken, _ := a.login(tn.Slug, "new@example.com", pw)
	if res := a.do("GET", "/v1/me", memberToken, nil); res.Status != 200 {
		t.Errorf("the new member: %d", res.Status)
	}
	if e := a.events(tn.ID, "invitation.accepted"); len(e) != 1 || e[0].Actor.ID != id.String() {
		t.Errorf("invitation.accepted events: %+v", e)
	}
	if e := a.events(tn.ID, "user.updated"); len(e) != 1 || e[0].Actor.ID != id.String() ||
		e[0].Changes["password_hash"] == nil || strings.Contains(fmt.Sprint(e[0].Changes), "argon2") {
		t.Errorf("user.updated events: %+v", e)
	}

	// Expired, and deactivated before acceptance.
	_, expired := a.orgInvite(tn.Token, "late@example.com", "member")
	a.sql(`UPDATE invitations SET expires_at = now() - interval '1 second' WHERE tenant_id = $1 AND accepted_at IS NULL`, tn.ID)
	gone, deactivated := a.orgInvite(tn.Token, "gone@example.com", "member")
	a.do("DELETE", "/v1/users/"+gone.String(), tn.Token, nil)
	for name, tok := range map[string]string{"expired": expired, "deactivated": deactivated} {
		if res := a.do("POST", "/v1/auth/accept-invite", "", map[string]any{"token": tok, "password": pw}); res.Status != 401 {
			t.Errorf("%s: %d, want 401", name, res.Status)
		}
	}
}
