package http_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// Every string a client controls that can reach storage is either refused
// with a 4xx problem or capped before it is stored: a client cannot grow
// the audit log (or sessions, or security events) by sending big values.

// filler is the oversized value's content: no hash, id or timestamp the
// database writes contains an upper-case Z.
const filler = "Z"

// maxStored is the longest client-controlled text any column keeps (the
// cap of request fields; names and descriptions are validated shorter).
const maxStored = 512

// oversizedRows counts the rows of the tables requests write to that hold
// a run of filler longer than maxStored.
func (a *app) oversizedRows() map[string]string {
	a.t.Helper()
	out := map[string]string{}
	for _, table := range []string{"audit_events", "security_events", "sessions", "users", "workspaces", "invitations"} {
		q := `SELECT count(*) FROM ` + table + ` t WHERE strpos(t::text, repeat('` + filler + `', ` +
			strconv.Itoa(maxStored+1) + `)) > 0`
		if n := a.superQuery(q)[0][0]; n != "0" {
			out[table] = n
		}
	}
	return out
}

func TestOversizedInputsAreBoundedBeforeStorage(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("enterprise")
	big := strings.Repeat(filler, 200<<10)       // headers: under Go's 1 MiB header limit
	bigText := strings.Repeat(filler, 100<<10)   // body fields and query values
	ws := a.populate(tn, "inputs").Workspaces[0] // an id for the routes that take one

	type step struct {
		name   string
		method string
		path   string
		token  string
		body   any
		header []string
		// want is the status: a 4xx means refused, a 2xx means accepted
		// with the value capped.
		want int
	}
	steps := []step{
		{name: "User-Agent on an audited write (row trigger)", method: "POST", path: "/v1/workspaces", token: tn.Token,
			body: map[string]any{"name": "ua-" + uuid.NewString()[:8]}, header: []string{"User-Agent", big}, want: 201},
		{name: "User-Agent on a read (explicit event)", method: "GET", path: "/v1/audit-events?limit=1", token: tn.Token,
			header: []string{"User-Agent", big}, want: 200},
		{name: "User-Agent at login (session row)", method: "POST", path: "/v1/auth/login",
			body:   map[string]any{"tenant": tn.Slug, "email": tn.Email, "password": password + tn.Slug},
			header: []string{"User-Agent", big}, want: 200},
		{name: "User-Agent on a refused token (security event)", method: "GET", path: "/v1/me", token: "garbage",
			header: []string{"User-Agent", big}, want: 401},
		{name: "User-Agent on a denied request (tenant event)", method: "GET", path: "/v1/me", token: tn.Token,
			header: []string{"User-Agent", big, "X-Tenant-ID", uuid.NewString()}, want: 403},
		{name: "X-Request-ID", method: "POST", path: "/v1/workspaces", token: tn.Token,
			body: map[string]any{"name": "rid-" + uuid.NewString()[:8]}, header: []string{"X-Request-ID", big}, want: 201},
		{name: "path of a denied request", method: "GET", path: "/v1/workspaces/" + bigText, token: tn.Token,
			header: []string{"X-Tenant-ID", uuid.NewString()}, want: 403},
		{name: "unknown field name", method: "POST", path: "/v1/workspaces", token: tn.Token,
			body: `{"` + bigText + `": 1}`, want: 400},
		{name: "workspace name", method: "POST", path: "/v1/workspaces", token: tn.Token,
			body: map[string]any{"name": bigText}, want: 422},
		{name: "workspace description", method: "PATCH", path: "/v1/workspaces/" + ws.String(), token: tn.Token,
			body: map[string]any{"description": bigText}, want: 422},
		{name: "user email", method: "POST", path: "/v1/users", token: tn.Token,
			body: map[string]any{"email": bigText + "@example.com", "role": "member"}, want: 422},
		{name: "user password", method: "POST", path: "/v1/users", token: tn.Token,
			body: map[string]any{"email": "pw-" + uuid.NewString()[:8] + "@example.com", "role": "member", "password": bigText}, want: 422},
		{name: "login email", method: "POST", path: "/v1/auth/login",
			body: map[string]any{"tenant": tn.Slug, "email": bigText, "password": "x"}, want: 400},
		{name: "login tenant", method: "POST", path: "/v1/auth/login",
			body: map[string]any{"tenant": bigText, "email": tn.Email, "password": "x"}, want: 400},
		{name: "refresh token", method: "POST", path: "/v1/auth/refresh",
			body: map[string]any{"refresh_token": bigText}, want: 401},
		{name: "invitation token", method: "POST", path: "/v1/auth/accept-invite",
			body: map[string]any{"token": bigText, "password": "a long enough password 1"}, want: 401},
		{name: "audit filter value", method: "GET", path: "/v1/audit-events?target_id=" + bigText, token: tn.Token, want: 400},
		{name: "unknown query parameter", method: "GET", path: "/v1/audit-events?" + bigText + "=1", token: tn.Token, want: 400},
		{name: "access review format", method: "GET", path: "/v1/access-review?format=" + bigText, token: tn.Token, want: 400},
		{name: "workspace member role", method: "PUT", path: "/v1/workspaces/" + ws.String() + "/members/" + tn.OwnerID.String(),
			token: tn.Token, body: map[string]any{"role": bigText}, want: 422},
	}
	for _, s := range steps {
		res := a.do(s.method, s.path, s.token, s.body, s.header...)
		if res.Status != s.want {
			t.Errorf("%s: %s %.60s answered %d, want %d: %.300s", s.name, s.method, s.path, res.Status, s.want, res.Body)
		}
		if rows := a.oversizedRows(); len(rows) > 0 {
			t.Fatalf("%s: stored longer than %d bytes in %v", s.name, maxStored, rows)
		}
	}
	// A client's request id that is not short and safe is replaced by the
	// server's own; the user agent is kept up to the cap.
	got := a.superQuery(`SELECT max(octet_length(request_id)), max(octet_length(user_agent)) FROM audit_events WHERE tenant_id = $1`, tn.ID)[0]
	if rid, _ := strconv.Atoi(got[0]); rid > 64 || got[1] != strconv.Itoa(maxStored) {
		t.Errorf("longest stored request id and user agent: %v, want at most 64 and %d", got, maxStored)
	}
}

// An invalid request on a tenant route is audited, the body too large for
// the route (413) included; the event is as small as any other refusal's.
func TestOversizedBodyIsAudited(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	before := len(a.events(tn.ID, "request.rejected"))
	res := a.do("POST", "/v1/workspaces", tn.Token, `{"name":"`+strings.Repeat(filler, 1<<20+16)+`"}`)
	if res.Status != 413 {
		t.Fatalf("1 MiB body: %d %s", res.Status, res.Body)
	}
	got := a.events(tn.ID, "request.rejected")
	if len(got) != before+1 {
		t.Fatalf("request.rejected events: %d before, %d after a 413", before, len(got))
	}
	e := got[len(got)-1]
	if e.Outcome != tenantd.OutcomeFailed || e.Actor.ID != tn.OwnerID.String() || e.Target.ID != "POST /v1/workspaces" {
		t.Errorf("the 413's event: %+v", e)
	}
	if rows := a.oversizedRows(); len(rows) > 0 {
		t.Errorf("the 413's event stores the body: %v", rows)
	}
}
