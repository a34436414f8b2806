package http_test

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/auth"
	api "github.com/tenantd/tenantd/http"
)

// JSON Lines exports are validated against the OpenAPI document as the
// array of their lines: each line must be one event object.
func init() {
	openapi3filter.RegisterBodyDecoder("application/jsonl", func(body io.Reader, _ nethttp.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		lines := []any{}
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var v any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				return nil, fmt.Errorf("line %d: %w", len(lines)+1, err)
			}
			lines = append(lines, v)
		}
		return lines, sc.Err()
	})
}

type eventPage struct {
	Items      []tenantd.AuditEvent `json:"items"`
	NextCursor *string              `json:"next_cursor"`
}

// listEvents pages through GET /v1/audit-events with query q, returning
// every event, newest first.
func (a *app) listEvents(token, q string, limit int) []tenantd.AuditEvent {
	a.t.Helper()
	var out []tenantd.AuditEvent
	cursor := ""
	for range 1000 {
		path := fmt.Sprintf("/v1/audit-events?limit=%d", limit)
		if q != "" {
			path += "&" + q
		}
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		res := a.do("GET", path, token, nil)
		if res.Status != 200 {
			a.t.Fatalf("GET %s: %d %s", path, res.Status, res.Body)
		}
		var page eventPage
		res.json(a.t, &page)
		out = append(out, page.Items...)
		if page.NextCursor == nil {
			return out
		}
		cursor = *page.NextCursor
	}
	a.t.Fatal("more than 1000 pages")
	return nil
}

// member adds a member to the tenant and logs them in.
func (a *app) member(tn *tenant) (uuid.UUID, string) {
	a.t.Helper()
	email := "member-" + uuid.NewString()[:8] + "@example.com"
	pw := "member password " + tn.Slug
	hash, err := auth.HashPassword(pw)
	if err != nil {
		a.t.Fatal(err)
	}
	a.sql(`INSERT INTO users (tenant_id, email, password_hash, role) VALUES ($1, $2, $3, 'member')`, tn.ID, email, hash)
	token, _ := a.login(tn.Slug, email, pw)
	var me struct{ User struct{ ID uuid.UUID } }
	a.do("GET", "/v1/me", token, nil).json(a.t, &me)
	return me.User.ID, token
}

// since are the events (as a.events reads them) written after pos.
func since(events []tenantd.AuditEvent, pos int64) []tenantd.AuditEvent {
	var out []tenantd.AuditEvent
	for _, e := range events {
		if e.Pos > pos {
			out = append(out, e)
		}
	}
	return out
}

func lastPos(events []tenantd.AuditEvent) int64 {
	if len(events) == 0 {
		return 0
	}
	return events[len(events)-1].Pos
}

// Each mutating route, and each audited read, leaves exactly one event of
// its own, committed with it, naming the request.
func TestEveryActionIsAuditedOnce(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	cases := []struct {
		action string
		do     func() *response
		status int
	}{
		{"login.succeeded", func() *response {
			return a.do("POST", "/v1/auth/login", "", map[string]any{"tenant": acme.Slug, "email": acme.Email, "password": password + acme.Slug})
		}, 200},
		{"refresh_token.rotated", func() *response {
			res := a.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": acme.Refresh})
			res.json(t, &tok)
			return res
		}, 200},
		{"audit.queried", func() *response { return a.do("GET", "/v1/audit-events?action=login.*", acme.Token, nil) }, 200},
		{"audit.exported", func() *response { return a.do("GET", "/v1/audit-events/export?format=csv", acme.Token, nil) }, 200},
		{"session.revoked", func() *response { return a.do("POST", "/v1/auth/logout", tok.AccessToken, nil) }, 204},
	}
	for _, c := range cases {
		before := lastPos(a.events(acme.ID, ""))
		res := c.do()
		if res.Status != c.status {
			t.Fatalf("%s: %d %s", c.action, res.Status, res.Body)
		}
		added := since(a.events(acme.ID, ""), before)
		if len(added) != 1 || added[0].Action != c.action || added[0].Outcome != "success" {
			t.Fatalf("%s: the request added %+v, want exactly one %s", c.action, added, c.action)
		}
		var reqID string
		a.superScan(`SELECT request_id FROM audit_events WHERE tenant_id = $1 AND pos = $2`, []any{acme.ID, added[0].Pos}, &reqID)
		if reqID == "" || reqID != res.Header.Get("X-Request-ID") {
			t.Errorf("%s: event request id %q, response X-Request-ID %q", c.action, reqID, res.Header.Get("X-Request-ID"))
		}
		if added[0].Actor.Type != "user" || added[0].Actor.ID != acme.OwnerID.String() {
			t.Errorf("%s: actor %+v, want the owner", c.action, added[0].Actor)
		}
	}
}

// superScan runs a one-row query as the superuser.
func (a *app) superScan(q string, args []any, dest ...any) {
	a.t.Helper()
	rows := a.superQuery(q, args...)
	if len(rows) != 1 || len(rows[0]) != len(dest) {
		a.t.Fatalf("%s: %v", q, rows)
	}
	for i, d := range dest {
		*(d.(*string)) = rows[0][i]
	}
}

// Owners and admins read the log; members are refused, and the refusal is
// itself audited.
func TestAuditLogIsForOwnersAndAdmins(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	memberID, memberToken := a.member(acme)
	for _, path := range []string{"/v1/audit-events", "/v1/audit-events/export"} {
		if res := a.do("GET", path, memberToken, nil); res.Status != 403 {
			t.Fatalf("member GET %s: %d %s", path, res.Status, res.Body)
		}
	}
	denied := 0
	for _, e := range a.events(acme.ID, "request.denied") {
		if e.Actor.ID == memberID.String() && e.Outcome == "denied" {
			denied++
		}
	}
	if denied != 2 {
		t.Fatalf("%d request.denied events for the member, want 2", denied)
	}
	if n := len(a.events(acme.ID, "audit.queried")) + len(a.events(acme.ID, "audit.exported")); n != 0 {
		t.Fatalf("a refused read was recorded as a read (%d events)", n)
	}
	// Promoted to admin, the same user reads it (once the principal cache's
	// one-second bound has passed).
	a.sql(`UPDATE users SET role = 'admin' WHERE tenant_id = $1 AND id = $2`, acme.ID, memberID)
	time.Sleep(1100 * time.Millisecond)
	if res := a.do("GET", "/v1/audit-events", memberToken, nil); res.Status != 200 {
		t.Fatalf("admin: %d %s", res.Status, res.Body)
	}
}

// Tenant B's admin sees none of A's events, through the list, any filter,
// A's cursors, forged cursors or the export.
func TestAuditLogIsolation(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	A := a.newTenant("pro")
	B := a.newTenant("pro")
	// A's log gets a variety of events, flagged ones included.
	a.do("GET", "/v1/me", A.Token, nil, "X-Tenant-ID", B.ID.String())
	a.do("POST", "/v1/auth/login", "", map[string]any{"tenant": A.Slug, "email": A.Email, "password": "wrong-password-123"})
	a.do("GET", "/v1/audit-events", A.Token, nil)
	aEvents := a.events(A.ID, "")
	if len(aEvents) < 5 {
		t.Fatalf("A has only %d events", len(aEvents))
	}
	markers := []string{A.ID.String(), A.OwnerID.String(), A.Slug}
	for _, e := range aEvents {
		if e.Target.Type == "session" {
			markers = append(markers, e.Target.ID)
		}
	}
	// B's own audit.queried events echo the filters B sent, A's ids
	// included: that is B's own input, not A's data.
	noLeak := func(what string, body []byte) {
		t.Helper()
		var kept []string
		for _, line := range strings.Split(string(body), "\n") {
			if !strings.Contains(line, "audit.queried") {
				kept = append(kept, line)
			}
		}
		text := strings.ToLower(strings.Join(kept, "\n"))
		for _, m := range markers {
			if strings.Contains(text, strings.ToLower(m)) {
				t.Errorf("%s: B sees A's %q", what, m)
			}
		}
	}
	onlyB := func(what string, items []tenantd.AuditEvent) {
		t.Helper()
		for _, e := range items {
			if e.TenantID != B.ID {
				t.Errorf("%s: B sees an event of %s", what, e.TenantID)
			}
		}
	}

	all := a.listEvents(B.Token, "", 2)
	if len(all) == 0 {
		t.Fatal("B sees no events of its own")
	}
	onlyB("list", all)
	for _, q := range []string{
		"actor=" + A.OwnerID.String(), "target_id=" + url.QueryEscape(aEvents[0].Target.ID), "target_type=session",
		"action=login.succeeded", "action=login.*", "flagged=true", "flagged=false",
		"since=2000-01-01T00:00:00Z", "until=2999-01-01T00:00:00Z", "tenant_id=" + B.ID.String(),
	} {
		res := a.do("GET", "/v1/audit-events?limit=500&"+q, B.Token, nil)
		if res.Status != 200 {
			t.Fatalf("%s: %d %s", q, res.Status, res.Body)
		}
		var page eventPage
		res.json(t, &page)
		onlyB(q, page.Items)
		for _, e := range page.Items {
			line, _ := json.Marshal(e)
			noLeak(q, line)
		}
	}
	if res := a.do("GET", "/v1/audit-events?tenant_id="+A.ID.String(), B.Token, nil); res.Status != 403 {
		t.Fatalf("tenant_id naming A: %d", res.Status)
	}

	// A's own cursor, in B's hands, pages through B's events only.
	var aPage eventPage
	a.do("GET", "/v1/audit-events?limit=1", A.Token, nil).json(t, &aPage)
	if aPage.NextCursor == nil {
		t.Fatal("A's first page has no cursor")
	}
	res := a.do("GET", "/v1/audit-events?limit=500&cursor="+url.QueryEscape(*aPage.NextCursor), B.Token, nil)
	if res.Status != 200 {
		t.Fatalf("A's cursor: %d %s", res.Status, res.Body)
	}
	var page eventPage
	res.json(t, &page)
	onlyB("A's cursor", page.Items)
	for _, e := range page.Items {
		line, _ := json.Marshal(e)
		noLeak("A's cursor", line)
	}
	for _, c := range []string{"garbage", b64([]byte(`{"before":-5}`)), b64([]byte(`{"before":5,"tenant":"` + A.ID.String() + `"}`)),
		b64([]byte(`{"seq":5}`)), b64([]byte(`[5]`)), strings.Repeat("A", 300), "%FF"} {
		res := a.do("GET", "/v1/audit-events?cursor="+c, B.Token, nil)
		if res.Status != 400 {
			t.Errorf("forged cursor %.40q: %d %s", c, res.Status, res.Body)
		}
		noLeak("forged cursor", res.Body)
	}

	for _, format := range []string{"jsonl", "csv"} {
		res := a.do("GET", "/v1/audit-events/export?format="+format, B.Token, nil)
		if res.Status != 200 {
			t.Fatalf("export %s: %d %s", format, res.Status, res.Body)
		}
		noLeak("export "+format, res.Body)
		if !strings.Contains(string(res.Body), B.ID.String()) && format == "jsonl" {
			t.Errorf("export %s lacks B's own events", format)
		}
	}
	// B's reads are in B's log, none in A's.
	for _, e := range since(a.events(A.ID, ""), lastPos(aEvents)) {
		if e.Actor.ID != A.OwnerID.String() {
			t.Errorf("B's reads left %s by %+v in A's log", e.Action, e.Actor)
		}
	}
	if n := len(a.events(B.ID, "audit.queried")); n < 10 {
		t.Errorf("B's queries left %d audit.queried events in B's log", n)
	}
}

// Filters, pages and parameters through the API.
func TestAuditEventsQuery(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	for range 3 {
		a.do("POST", "/v1/auth/login", "", map[string]any{"tenant": acme.Slug, "email": acme.Email, "password": "wrong-password-123"})
	}
	a.login(acme.Slug, acme.Email, password+acme.Slug)
	stored := a.events(acme.ID, "")

	paged := a.listEvents(acme.Token, "", 2)
	// The list's own audit.queried events are newer than what was stored.
	var ids, want []uuid.UUID
	for _, e := range paged {
		if e.Action != "audit.queried" {
			ids = append(ids, e.ID)
		}
	}
	for i := len(stored) - 1; i >= 0; i-- {
		want = append(want, stored[i].ID)
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("paged events %v, want %v (newest first)", ids, want)
	}

	failed := a.listEvents(acme.Token, "action=login.failed&target_id="+url.QueryEscape(acme.Email), 500)
	if len(failed) != 3 {
		t.Fatalf("%d failed logins, want 3", len(failed))
	}
	for _, e := range failed {
		if e.Outcome != "failed" || e.Actor.Type != "anonymous" || e.Changes["reason"] != "wrong password" || e.OccurredAt.Location() != time.UTC {
			t.Fatalf("failed login event %+v", e)
		}
	}
	mine := a.listEvents(acme.Token, "actor="+acme.OwnerID.String()+"&action=login.succeeded", 500)
	if len(mine) != 2 {
		t.Fatalf("%d logins by the owner, want 2", len(mine))
	}
	window := a.listEvents(acme.Token, "since="+url.QueryEscape(failed[len(failed)-1].OccurredAt.Format(time.RFC3339Nano))+
		"&until="+url.QueryEscape(failed[0].OccurredAt.Format(time.RFC3339Nano))+"&action=login.failed", 500)
	if len(window) != 2 { // since is inclusive, until exclusive
		t.Fatalf("%d events in [oldest, newest) failed login, want 2", len(window))
	}

	for _, q := range []string{"limit=0", "limit=501", "limit=-1", "limit=abc", "limit=1&limit=2", "flagged=yes",
		"since=yesterday", "since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z", "action=DROP%20TABLE",
		"actor=%0Aadmin", "target=x", "actor_id=x", "cursor=e30"} {
		res := a.do("GET", "/v1/audit-events?"+q, acme.Token, nil)
		if res.Status != 400 {
			t.Errorf("%s: %d, want 400: %s", q, res.Status, res.Body)
		}
	}
	if res := a.do("GET", "/v1/audit-events/export?format=xml", acme.Token, nil); res.Status != 400 {
		t.Errorf("format=xml: %d", res.Status)
	}
	if res := a.do("GET", "/v1/audit-events/export?limit=5", acme.Token, nil); res.Status != 400 {
		t.Errorf("export with limit: %d", res.Status)
	}
}

// Exports stream every matching event oldest first, with the right types
// and file names; CSV defuses spreadsheet formulas a client slipped in.
func TestAuditExport(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	formula := `=HYPERLINK("http://evil.example")@example.com`
	a.do("POST", "/v1/auth/login", "", map[string]any{"tenant": acme.Slug, "email": formula, "password": "x"})
	stored := a.events(acme.ID, "")

	res := a.do("GET", "/v1/audit-events/export", acme.Token, nil)
	if res.Status != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/jsonl") ||
		!strings.Contains(res.Header.Get("Content-Disposition"), `filename="audit-events-`+acme.Slug+"-") {
		t.Fatalf("jsonl export: %d %v", res.Status, res.Header)
	}
	var lines []tenantd.AuditEvent
	for _, l := range strings.Split(strings.TrimSuffix(string(res.Body), "\n"), "\n") {
		var e tenantd.AuditEvent
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		lines = append(lines, e)
	}
	if len(lines) != len(stored) {
		t.Fatalf("%d lines, %d events stored", len(lines), len(stored))
	}
	for i := range lines {
		if lines[i].ID != stored[i].ID || lines[i].Action != stored[i].Action {
			t.Fatalf("line %d is %s %s, stored %s %s", i, lines[i].ID, lines[i].Action, stored[i].ID, stored[i].Action)
		}
	}

	res = a.do("GET", "/v1/audit-events/export?format=csv&action=login.failed", acme.Token, nil)
	if res.Status != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!strings.HasSuffix(res.Header.Get("Content-Disposition"), `.csv"`) {
		t.Fatalf("csv export: %d %v", res.Status, res.Header)
	}
	records, err := csv.NewReader(strings.NewReader(string(res.Body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 2 || records[0][0] != "seq" || records[1][5] != "login.failed" {
		t.Fatalf("csv records %q", records)
	}
	if got := records[1][7]; got != "'"+strings.ToLower(formula) {
		t.Fatalf("target_id cell %q: a formula reaches the spreadsheet", got)
	}
	exported := a.events(acme.ID, "audit.exported")
	if len(exported) != 2 || exported[1].Changes["format"] != "csv" || exported[1].Changes["events"] != float64(1) ||
		exported[1].Changes["action"] != "login.failed" {
		t.Fatalf("audit.exported events %+v", exported)
	}
}

// Every flag reason that a request can produce today is produced by a real
// request, counted in /metrics, and shown to platform security staff.
func TestFlagReasonsFromRealRequests(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	A := a.newTenant("pro")
	B := a.newTenant("pro")

	// tenant_mismatch: a valid token of A naming B.
	if res := a.do("GET", "/v1/me", A.Token, nil, "X-Tenant-ID", B.ID.String()); res.Status != 403 {
		t.Fatalf("X-Tenant-ID of another tenant: %d", res.Status)
	}
	// token_user_tenant: a validly signed token for A's owner with B's tid.
	iss := &auth.Issuer{Keys: a.ring.Keys, Issuer: "tenantd", Audience: "tenantd-api"}
	cross, _, err := iss.Issue(A.OwnerID, B.ID, uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	if res := a.do("GET", "/v1/me", cross, nil); res.Status != 403 {
		t.Fatalf("token of A's user with B's tid: %d", res.Status)
	}
	// refresh_reuse: a refresh token used twice.
	if res := a.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": A.Refresh}); res.Status != 200 {
		t.Fatal(res.Status)
	}
	if res := a.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": A.Refresh}); res.Status != 401 {
		t.Fatalf("reused refresh token: %d", res.Status)
	}
	// login_failures: six wrong passwords for B's owner.
	var statuses []int
	for range 6 {
		res := a.do("POST", "/v1/auth/login", "", map[string]any{"tenant": B.Slug, "email": B.Email, "password": "wrong-password-123"})
		statuses = append(statuses, res.Status)
	}
	// Garbage tokens belong to no tenant: unattributed security events.
	a.do("GET", "/v1/me", "not.a.token", nil)

	want := map[string]uuid.UUID{
		tenantd.FlagTenantMismatch:  A.ID,
		tenantd.FlagTokenUserTenant: B.ID,
		tenantd.FlagRefreshReuse:    A.ID,
		tenantd.FlagLoginFailures:   B.ID,
	}
	for reason, tenant := range want {
		if got := a.flagged(tenant, reason); len(got) == 0 {
			t.Errorf("%s: no flagged event in the tenant's log", reason)
		}
	}
	lf := a.flagged(B.ID, tenantd.FlagLoginFailures)
	if len(lf) == 0 || lf[len(lf)-1].Changes["failures"] != float64(6) {
		t.Errorf("the 6th failed login (statuses %v) is not flagged: %+v", statuses, lf)
	}
	if len(a.flagged(B.ID, tenantd.FlagTenantMismatch)) != 0 {
		t.Error("the tenant named by a mismatching request got an event of it")
	}

	metrics := a.metrics()
	for reason := range want {
		if !strings.Contains(metrics, `tenantd_flagged_events_total{reason="`+reason+`"}`) {
			t.Errorf("/metrics lacks tenantd_flagged_events_total for %s", reason)
		}
	}
	if strings.Contains(metrics, A.ID.String()) || strings.Contains(metrics, B.ID.String()) {
		t.Error("/metrics has a per-tenant label")
	}

	// Platform security staff see every flagged event of both tenants.
	op := uuid.New()
	opToken, err := api.MintOperatorToken(a.ring.Keys, "", "", op, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	cursor := ""
	total := 0
	for range 100 {
		path := "/v1/admin/security-events?limit=1"
		if cursor != "" {
			path += "&flagged_cursor=" + url.QueryEscape(cursor)
		}
		res := a.do("GET", path, opToken, nil)
		if res.Status != 200 {
			t.Fatalf("security events: %d %s", res.Status, res.Body)
		}
		var view struct {
			Flagged struct {
				Items []struct {
					TenantSlug string `json:"tenant_slug"`
					tenantd.AuditEvent
				}
				NextCursor *string `json:"next_cursor"`
			}
			Unattributed struct {
				Items []struct{ Action, Reason string }
			}
		}
		res.json(t, &view)
		for _, e := range view.Flagged.Items {
			seen[e.TenantSlug+"/"+e.FlagReason] = true
			total++
		}
		if cursor == "" && (len(view.Unattributed.Items) != 1 || view.Unattributed.Items[0].Action == "") {
			t.Errorf("unattributed events: %+v", view.Unattributed.Items)
		}
		if view.Flagged.NextCursor == nil {
			break
		}
		cursor = *view.Flagged.NextCursor
	}
	slugOf := map[uuid.UUID]string{A.ID: A.Slug, B.ID: B.Slug}
	for reason, tenant := range want {
		if !seen[slugOf[tenant]+"/"+reason] {
			t.Errorf("the security view lacks %s of %s: %v", reason, slugOf[tenant], seen)
		}
	}
	if want := len(a.flaggedAll(A.ID)) + len(a.flaggedAll(B.ID)); total != want {
		t.Errorf("the security view paged %d flagged events, the tenants have %d", total, want)
	}
	// The operator's calls are recorded, and only with an operator token.
	rows := a.superQuery(`SELECT count(*) FROM security_events WHERE action = 'operator.GET /v1/admin/security-events' AND reason = $1`,
		"operator "+op.String())
	if rows[0][0] == "0" {
		t.Error("the operator's calls were not recorded")
	}
	for name, tok := range map[string]string{"tenant token": A.Token, "none": ""} {
		if res := a.do("GET", "/v1/admin/security-events", tok, nil); res.Status != 401 {
			t.Errorf("security view with %s: %d", name, res.Status)
		}
	}
	if res := a.do("GET", "/v1/me", opToken, nil); res.Status != 401 {
		t.Errorf("an operator token on a tenant route: %d", res.Status)
	}
}

// flaggedAll returns every flagged event of the tenant.
func (a *app) flaggedAll(tenant uuid.UUID) []tenantd.AuditEvent {
	var out []tenantd.AuditEvent
	for _, e := range a.events(tenant, "") {
		if e.Flagged {
			out = append(out, e)
		}
	}
	return out
}

// metrics returns the /metrics text, read as a platform operator.
func (a *app) metrics() string {
	a.t.Helper()
	res := a.do("GET", "/metrics", a.operatorToken(), nil)
	if res.Status != 200 {
		a.t.Fatalf("GET /metrics: %d %s", res.Status, res.Body)
	}
	return string(res.Body)
}

// Operator tokens are short-lived and refused beyond their bound.
func TestMintOperatorToken(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	if _, err := api.MintOperatorToken(a.ring.Keys, "", "", uuid.New(), 2*time.Hour); err == nil {
		t.Error("a two-hour operator token was minted")
	}
	if _, err := api.MintOperatorToken(a.ring.Keys, "", "", uuid.Nil, 0); err == nil {
		t.Error("an operator token without an operator was minted")
	}
	tok, err := api.MintOperatorToken(a.ring.Keys, "tenantd", "tenantd-api", uuid.New(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res := a.do("GET", "/v1/admin/security-events", tok, nil); res.Status != 401 {
		t.Errorf("an operator token for the tenant audience: %d", res.Status)
	}
	if res := a.do("GET", "/v1/me", tok, nil); res.Status != 401 {
		t.Errorf("an operator token for the tenant audience on a tenant route: %d", res.Status)
	}
}

// A filter is never dropped: a query string that Go's parser gives up on
// (too many parameters, a semicolon) answers 400, not every event.
func TestAuditFilterIsNeverDropped(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	for _, q := range []string{
		"action=workspace.created" + strings.Repeat("&z=1", 10_000),
		"action=workspace.created;limit=1",
	} {
		res := a.do("GET", "/v1/audit-events?"+q, tn.Token, nil)
		if res.Status != 400 {
			t.Errorf("GET /v1/audit-events?%.40s…: %d, want 400: %.200s", q, res.Status, res.Body)
		}
	}
	if got := a.events(tn.ID, "request.rejected"); len(got) != 2 {
		t.Errorf("the refused queries are not audited as invalid requests: %+v", got)
	}
}
