package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
)

// Helpers of the organisation tests (users, workspaces, members, usage,
// access review): fixtures are inserted as the superuser in the tenant's
// context, so that only the request under test goes through the API.

// orgToken starts a new session for a user and returns its access token.
// A fresh session has no principal cached yet, so the request sees the
// user's roles and memberships as they are now.
func (a *app) orgToken(tenantID, userID uuid.UUID) string {
	a.t.Helper()
	sid, err := a.env.DB.Identity().CreateSession(context.Background(), tenantID, userID, []byte("not-a-refresh-hash"),
		time.Now().Add(time.Hour), tenantd.RequestInfo{ID: "test"})
	if err != nil {
		a.t.Fatal(err)
	}
	tok, _, err := a.issuer(nil).Issue(userID, tenantID, sid)
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

// orgUser inserts an active user with the tenant role.
func (a *app) orgUser(tenantID uuid.UUID, role string) uuid.UUID {
	a.t.Helper()
	return a.seed(tenantID, `INSERT INTO users (tenant_id, email, role, password_hash) VALUES ($1, $2, $3, 'x') RETURNING id`,
		role+"-"+uuid.NewString()[:8]+"@example.com", role)
}

// orgWorkspace inserts a workspace.
func (a *app) orgWorkspace(tenantID uuid.UUID) uuid.UUID {
	a.t.Helper()
	return a.seed(tenantID, `INSERT INTO workspaces (tenant_id, name) VALUES ($1, $2) RETURNING id`, "ws-"+uuid.NewString()[:8])
}

// orgMember gives a user a workspace role.
func (a *app) orgMember(tenantID, ws, user uuid.UUID, role string) {
	a.t.Helper()
	a.seed(tenantID, `INSERT INTO workspace_members (tenant_id, workspace_id, user_id, role) VALUES ($1, $2, $3, $4) RETURNING user_id`,
		ws, user, role)
}

// orgState is one md5 over every row of the tenant in the tables a
// request could change (audit events and sessions excluded).
func (a *app) orgState(tenantID uuid.UUID) string {
	a.t.Helper()
	var parts []string
	for _, table := range a.tenantTables() {
		col := "tenant_id"
		if table == "tenants" {
			col = "id"
		}
		parts = append(parts, fmt.Sprintf(`SELECT %[1]s AS t, coalesce(md5(string_agg(x::text, ',' ORDER BY x::text)), '') AS h FROM %[2]s x WHERE %[3]s = $1`,
			"'"+table+"'", pgx.Identifier{table}.Sanitize(), col))
	}
	rows := a.superQuery(`SELECT string_agg(t || '=' || h, ' ' ORDER BY t) FROM (`+strings.Join(parts, " UNION ALL ")+`) s`, tenantID)
	return rows[0][0]
}

// orgProblem decodes a problem+json answer.
type orgProblem struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Limit  string `json:"limit"`
}

var orgRoles = []string{"owner", "admin", "manager", "editor", "viewer", "outsider"}

// orgFixture is a tenant with one user per role of the matrix: the owner,
// an admin, and four members: the manager, editor and viewer of workspace
// WS, and an outsider who manages another workspace but not WS.
type orgFixture struct {
	a     *app
	T     *tenant
	Users map[string]uuid.UUID
	WS    uuid.UUID
}

func (a *app) orgFixture(plan string) *orgFixture {
	a.t.Helper()
	f := &orgFixture{a: a, T: a.newTenant(plan), Users: map[string]uuid.UUID{}}
	f.Users["owner"] = f.T.OwnerID
	f.Users["admin"] = a.orgUser(f.T.ID, "admin")
	for _, r := range orgRoles[2:] {
		f.Users[r] = a.orgUser(f.T.ID, "member")
	}
	f.WS = f.workspace()
	a.orgMember(f.T.ID, a.orgWorkspace(f.T.ID), f.Users["outsider"], "manager")
	return f
}

// workspace creates a workspace where manager, editor and viewer hold
// those roles.
func (f *orgFixture) workspace() uuid.UUID {
	ws := f.a.orgWorkspace(f.T.ID)
	for _, r := range []string{"manager", "editor", "viewer"} {
		f.a.orgMember(f.T.ID, ws, f.Users[r], r)
	}
	return ws
}

// Each role × each route → the expected status, from this table. Every
// request gets a fresh session (the roles as they are now) and fresh
// targets; a refused request must change nothing at all.
func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	f := a.orgFixture("enterprise")
	tn := f.T.ID
	unique := func(p string) string { return p + "-" + uuid.NewString()[:8] }
	type target func(caller string) (path string, body any)
	fixed := func(path string) target { return func(string) (string, any) { return path, nil } }
	user := func(suffix string, body any) target {
		return func(string) (string, any) { return "/v1/users/" + a.orgUser(tn, "member").String() + suffix, body }
	}
	freshWorkspace := func(suffix string, body func() any) target {
		return func(string) (string, any) {
			var b any
			if body != nil {
				b = body()
			}
			return "/v1/workspaces/" + f.workspace().String() + suffix, b
		}
	}
	ws := "/v1/workspaces/" + f.WS.String()

	//                                                                 owner admin manager editor viewer outsider
	a.enableBetas(f.T)
	patchSettings := func(string) (string, any) {
		return "/v1/tenant/settings", map[string]any{"settings": map[string]any{"company_name": unique("Company")}}
	}
	mergePatch := []string{"Content-Type", "application/merge-patch+json", "If-Match", "*"}
	cases := []struct {
		method  string
		target  target
		want    [6]int
		headers []string
	}{
		{"GET", fixed("/v1/users"), [6]int{200, 200, 403, 403, 403, 403}, nil},
		{"POST", func(string) (string, any) {
			return "/v1/users", map[string]any{"email": unique("new") + "@example.com", "role": "member"}
		}, [6]int{201, 201, 403, 403, 403, 403}, nil},
		{"GET", user("", nil), [6]int{200, 200, 403, 403, 403, 403}, nil},
		{"GET", func(caller string) (string, any) { return "/v1/users/" + f.Users[caller].String(), nil },
			[6]int{200, 200, 200, 200, 200, 200}, nil},
		{"PATCH", user("", map[string]any{"role": "admin"}), [6]int{200, 200, 403, 403, 403, 403}, nil},
		{"DELETE", user("", nil), [6]int{204, 204, 403, 403, 403, 403}, nil},

		{"GET", fixed("/v1/workspaces"), [6]int{200, 200, 200, 200, 200, 200}, nil},
		{"POST", func(string) (string, any) { return "/v1/workspaces", map[string]any{"name": unique("ws")} },
			[6]int{201, 201, 403, 403, 403, 403}, nil},
		{"GET", fixed(ws), [6]int{200, 200, 200, 200, 200, 404}, nil},
		{"PATCH", freshWorkspace("", func() any { return map[string]any{"name": unique("renamed")} }),
			[6]int{200, 200, 403, 403, 403, 404}, nil},
		{"DELETE", freshWorkspace("", nil), [6]int{204, 204, 403, 403, 403, 404}, nil},
		{"GET", fixed(ws + "/members"), [6]int{200, 200, 200, 200, 200, 404}, nil},
		{"PUT", func(string) (string, any) {
			return ws + "/members/" + a.orgUser(tn, "member").String(), map[string]any{"role": "viewer"}
		}, [6]int{201, 201, 201, 403, 403, 404}, nil},
		{"DELETE", func(string) (string, any) {
			u := a.orgUser(tn, "member")
			a.orgMember(tn, f.WS, u, "viewer")
			return ws + "/members/" + u.String(), nil
		}, [6]int{204, 204, 204, 403, 403, 404}, nil},

		{"GET", fixed("/v1/tenant/usage"), [6]int{200, 200, 403, 403, 403, 403}, nil},
		{"GET", fixed("/v1/access-review"), [6]int{200, 200, 403, 403, 403, 403}, nil},
		{"GET", fixed("/v1/access-review?format=csv"), [6]int{200, 200, 403, 403, 403, 403}, nil},

		{"GET", fixed("/v1/tenant/settings"), [6]int{200, 200, 403, 403, 403, 403}, nil},
		{"PATCH", patchSettings, [6]int{200, 200, 403, 403, 403, 403}, mergePatch},
		{"GET", fixed("/v1/tenant/features"), [6]int{200, 200, 403, 403, 403, 403}, nil},
		{"GET", fixed("/v1/tenant/settings/history"), [6]int{200, 200, 403, 403, 403, 403}, nil},

		// Flags drive what the product shows every user: anyone evaluates them.
		{"POST", func(string) (string, any) {
			return "/ofrep/v1/evaluate/flags/custom_branding", map[string]any{"context": map[string]any{}}
		}, [6]int{200, 200, 200, 200, 200, 200}, nil},
		{"POST", func(string) (string, any) {
			return "/ofrep/v1/evaluate/flags", map[string]any{"context": map[string]any{}}
		}, [6]int{200, 200, 200, 200, 200, 200}, nil},
		// Operators' routes take no tenant token, an owner's neither.
		{"GET", fixed("/v1/admin/tenants/" + tn.String()), [6]int{401, 401, 401, 401, 401, 401}, nil},
		{"POST", fixed("/v1/admin/tenants/" + tn.String() + "/suspend"), [6]int{401, 401, 401, 401, 401, 401}, nil},
	}
	for _, c := range cases {
		for i, role := range orgRoles {
			path, body := c.target(role)
			want := c.want[i]
			before := ""
			if want >= 400 {
				before = a.orgState(tn)
			}
			res := a.do(c.method, path, a.orgToken(tn, f.Users[role]), body, c.headers...)
			if res.Status != want {
				t.Errorf("%s %s as %s: %d, want %d: %s", c.method, path, role, res.Status, want, res.Body)
			}
			if want >= 400 && a.orgState(tn) != before {
				t.Errorf("%s %s as %s: refused with %d, yet the tenant's rows changed", c.method, path, role, res.Status)
			}
		}
	}

	// A member's list holds only their workspaces; the outsider's holds
	// only the one they manage.
	for _, role := range []string{"viewer", "outsider"} {
		var page struct{ Items []struct{ ID uuid.UUID } }
		a.do("GET", "/v1/workspaces", a.orgToken(tn, f.Users[role]), nil).json(t, &page)
		for _, w := range page.Items {
			var n string
			a.superScan(`SELECT count(*)::text FROM workspace_members WHERE tenant_id = $1 AND workspace_id = $2 AND user_id = $3`,
				[]any{tn, w.ID, f.Users[role]}, &n)
			if n != "1" {
				t.Errorf("%s lists workspace %s they do not belong to", role, w.ID)
			}
		}
		if len(page.Items) == 0 {
			t.Errorf("%s lists no workspace", role)
		}
	}
}

// Admins manage admins and members, never owners: they may neither add,
// promote to, demote, disable nor deactivate an owner.
func TestAdminsCannotTouchOwners(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	admin := a.orgToken(tn.ID, a.orgUser(tn.ID, "admin"))
	member := a.orgUser(tn.ID, "member")
	owner := "/v1/users/" + tn.OwnerID.String()
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/users", map[string]any{"email": "boss@example.com", "role": "owner"}},
		{"PATCH", "/v1/users/" + member.String(), map[string]any{"role": "owner"}},
		{"PATCH", owner, map[string]any{"role": "member"}},
		{"PATCH", owner, map[string]any{"disabled": true}},
		{"DELETE", owner, nil},
	} {
		before := a.orgState(tn.ID)
		if res := a.do(c.method, c.path, admin, c.body); res.Status != 403 {
			t.Errorf("admin %s %s %v: %d, want 403: %s", c.method, c.path, c.body, res.Status, res.Body)
		}
		if a.orgState(tn.ID) != before {
			t.Errorf("admin %s %s: refused, yet rows changed", c.method, c.path)
		}
	}
	// An owner may.
	if res := a.do("PATCH", "/v1/users/"+member.String(), tn.Token, map[string]any{"role": "owner"}); res.Status != 200 {
		t.Fatalf("owner promotes a member: %d %s", res.Status, res.Body)
	}
}

// Tenant B's owner aims at tenant A's ids on every organisation route that
// takes one: 404 (as for a missing id), A unchanged, and a foreign_id event
// flagged in B's own log naming the foreign id.
func TestOrganisationRoutesRefuseForeignIDs(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	A := a.orgFixture("pro")
	B := a.newTenant("pro")
	bWorkspace := a.orgWorkspace(B.ID)
	aUser := A.Users["viewer"]
	ws, user := A.WS.String(), aUser.String()
	cases := []struct {
		method, path string
		body         any
		foreign      uuid.UUID
	}{
		{"GET", "/v1/users/" + user, nil, aUser},
		{"PATCH", "/v1/users/" + user, map[string]any{"role": "admin", "disabled": true}, aUser},
		{"DELETE", "/v1/users/" + user, nil, aUser},
		{"DELETE", "/v1/users/" + A.T.OwnerID.String(), nil, A.T.OwnerID},
		{"GET", "/v1/workspaces/" + ws, nil, A.WS},
		{"PATCH", "/v1/workspaces/" + ws, map[string]any{"name": "pwned"}, A.WS},
		{"DELETE", "/v1/workspaces/" + ws, nil, A.WS},
		{"GET", "/v1/workspaces/" + ws + "/members", nil, A.WS},
		{"PUT", "/v1/workspaces/" + ws + "/members/" + user, map[string]any{"role": "manager"}, A.WS},
		{"DELETE", "/v1/workspaces/" + ws + "/members/" + user, nil, A.WS},
		// B's own workspace, A's user: the user id is the foreign one.
		{"PUT", "/v1/workspaces/" + bWorkspace.String() + "/members/" + user, map[string]any{"role": "viewer"}, aUser},
		{"DELETE", "/v1/workspaces/" + bWorkspace.String() + "/members/" + user, nil, aUser},
	}
	before := a.orgState(A.T.ID)
	for _, c := range cases {
		flagged := len(a.flagged(B.ID, tenantd.FlagForeignID))
		res := a.do(c.method, c.path, a.orgToken(B.ID, B.OwnerID), c.body)
		if res.Status != 404 {
			t.Errorf("%s %s with B's token: %d, want 404: %s", c.method, c.path, res.Status, res.Body)
		}
		var p orgProblem
		res.json(t, &p)
		if p.Type != "/problems/not-found" {
			t.Errorf("%s %s: problem type %q", c.method, c.path, p.Type)
		}
		got := a.flagged(B.ID, tenantd.FlagForeignID)
		if len(got) != flagged+1 {
			t.Errorf("%s %s: %d new foreign_id events in B's log, want 1", c.method, c.path, len(got)-flagged)
		} else if e := got[len(got)-1]; e.Target.ID != c.foreign.String() || e.Outcome != "denied" {
			t.Errorf("%s %s: flagged event %+v, want target %s", c.method, c.path, e, c.foreign)
		}
		if len(a.flagged(A.T.ID, tenantd.FlagForeignID)) != 0 {
			t.Errorf("%s %s: an event landed in A's log", c.method, c.path)
		}
	}
	if a.orgState(A.T.ID) != before {
		t.Error("tenant A's rows changed")
	}
}

// Every change is audited, by the database in the same transaction, with
// the changed fields and the caller as actor; reads of the access review
// too.
func TestOrganisationChangesAreAudited(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	owner := tn.OwnerID.String()

	var ws struct{ ID uuid.UUID }
	res := a.do("POST", "/v1/workspaces", tn.Token, map[string]any{"name": "Clients", "description": "All of them"})
	res.json(t, &ws)
	a.do("PATCH", "/v1/workspaces/"+ws.ID.String(), tn.Token, map[string]any{"name": "Customers"})
	a.do("PATCH", "/v1/workspaces/"+ws.ID.String(), tn.Token, map[string]any{"name": "Customers"}) // no change
	var u struct {
		ID         uuid.UUID
		Invitation struct{ Token string }
	}
	a.do("POST", "/v1/users", tn.Token, map[string]any{"email": "Ann@Example.com", "role": "member"}).json(t, &u)
	members := "/v1/workspaces/" + ws.ID.String() + "/members/" + u.ID.String()
	a.do("PUT", members, tn.Token, map[string]any{"role": "viewer"})
	a.do("PUT", members, tn.Token, map[string]any{"role": "editor"})
	a.do("PUT", members, tn.Token, map[string]any{"role": "editor"}) // no change
	a.do("DELETE", members, tn.Token, nil)
	a.do("PATCH", "/v1/users/"+u.ID.String(), tn.Token, map[string]any{"role": "admin"})
	a.do("DELETE", "/v1/users/"+u.ID.String(), tn.Token, nil)
	a.do("DELETE", "/v1/users/"+u.ID.String(), tn.Token, nil) // already deactivated
	a.do("DELETE", "/v1/workspaces/"+ws.ID.String(), tn.Token, nil)
	a.do("GET", "/v1/access-review?format=csv", tn.Token, nil)

	type want struct {
		action, target string
		changes        map[string]any
	}
	wants := []want{
		{"workspace.created", ws.ID.String(), map[string]any{"name": map[string]any{"new": "Clients"}, "description": map[string]any{"new": "All of them"}}},
		{"workspace.updated", ws.ID.String(), map[string]any{"name": map[string]any{"old": "Clients", "new": "Customers"}}},
		{"user.created", u.ID.String(), map[string]any{"email": map[string]any{"new": "ann@example.com"}, "role": map[string]any{"new": "member"}, "status": map[string]any{"new": "invited"}}},
		{"invitation.created", "", map[string]any{"email": "ann@example.com", "role": "member"}},
		{"workspace_member.created", u.ID.String(), map[string]any{"role": map[string]any{"new": "viewer"}}},
		{"workspace_member.updated", u.ID.String(), map[string]any{"role": map[string]any{"old": "viewer", "new": "editor"}}},
		{"workspace_member.deleted", u.ID.String(), map[string]any{"role": map[string]any{"old": "editor"}}},
		{"user.updated", u.ID.String(), map[string]any{"role": map[string]any{"old": "member", "new": "admin"}}},
		{"user.deactivated", u.ID.String(), map[string]any{"status": map[string]any{"old": "invited", "new": "deactivated"}}},
		{"workspace.deleted", ws.ID.String(), nil},
		{"access_review.exported", tn.ID.String(), map[string]any{"format": "csv"}},
	}
	var got []tenantd.AuditEvent
	for _, e := range a.events(tn.ID, "") {
		if e.Actor.ID == owner && !strings.HasPrefix(e.Action, "login.") && !strings.HasPrefix(e.Action, "refresh_token.") {
			got = append(got, e)
		}
	}
	if len(got) != len(wants) {
		for _, e := range got {
			t.Logf("%s %s %v", e.Action, e.Target.ID, e.Changes)
		}
		t.Fatalf("%d events by the owner, want %d (one per change, none for a no-op)", len(got), len(wants))
	}
	for i, w := range wants {
		e := got[i]
		if e.Action != w.action || (w.target != "" && e.Target.ID != w.target) || e.Outcome != "success" || e.Actor.Type != "user" {
			t.Errorf("event %d = %s %s/%s %s, want %s %s", i, e.Action, e.Target.Type, e.Target.ID, e.Outcome, w.action, w.target)
		}
		for k, v := range w.changes {
			if fmt.Sprint(e.Changes[k]) != fmt.Sprint(v) {
				t.Errorf("%s: changes[%s] = %v, want %v", w.action, k, e.Changes[k], v)
			}
		}
	}
}

// An id of another tenant answers 404 like an unknown id, and B's own audit
// log, which B's admins read, does not tell the two apart either: the
// events for a foreign id and for a made-up one are the same but for the
// id. Only the platform's security view says which id was another
// tenant's.
func TestForeignIDIsNoOracleInTheTenantLog(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	A := a.populate(a.newTenant("pro"), "oracle-a")
	B := a.newTenant("pro")
	foreign, unknown := A.Workspaces[0], uuid.New()
	for _, id := range []uuid.UUID{foreign, unknown} {
		if res := a.do("GET", "/v1/workspaces/"+id.String(), B.Token, nil); res.Status != 404 {
			t.Fatalf("GET another tenant's or an unknown workspace: %d", res.Status)
		}
	}
	// What B's admins see, less what differs for any two requests.
	view := func(id uuid.UUID) []string {
		var out []string
		for _, e := range a.listEvents(B.Token, "target_id="+id.String(), 50) {
			e.Seq, e.ID, e.OccurredAt, e.RequestID, e.Target.ID = nil, uuid.Nil, time.Time{}, "", ""
			raw, _ := json.Marshal(e)
			out = append(out, string(raw))
		}
		return out
	}
	if f, u := view(foreign), view(unknown); !slices.Equal(f, u) {
		t.Errorf("B's log tells a foreign id from an unknown one:\nforeign: %v\nunknown: %v", f, u)
	}
	flagged := a.listEvents(B.Token, "flagged=true", 50)
	for _, e := range flagged {
		if e.Target.ID == foreign.String() {
			t.Errorf("B's log flags the foreign id: %+v", e)
		}
	}

	// The platform's security view has the flag, for the foreign id only.
	var sec struct {
		Flagged struct {
			Items []tenantd.AuditEvent `json:"items"`
		} `json:"flagged"`
	}
	res := a.do("GET", "/v1/admin/security-events?limit=500", a.operatorToken(), nil)
	if res.Status != 200 {
		t.Fatalf("security view: %d %s", res.Status, res.Body)
	}
	res.json(t, &sec)
	reasons := map[string]string{}
	for _, e := range sec.Flagged.Items {
		if e.TenantID == B.ID {
			reasons[e.Target.ID] = e.FlagReason
		}
	}
	if reasons[foreign.String()] != tenantd.FlagForeignID {
		t.Errorf("the security view lacks the foreign id's flag: %v", reasons)
	}
	if _, ok := reasons[unknown.String()]; ok {
		t.Errorf("the security view flags an unknown id: %v", reasons)
	}
}
