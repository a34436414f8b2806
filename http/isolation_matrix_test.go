package http_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	nethttp "net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/auth"
	api "github.com/tenantd/tenantd/http"
)

// The isolation matrix walks the server's own route table, so a route added
// later is covered (or fails this test) without anyone editing it. Two
// tenants hold data; tenant B attacks tenant A on every route in every way
// the request flow must refuse, and A's rows, B's audit log and every response are checked.

// holder is a tenant with the data the matrix aims at.
type holder struct {
	*tenant
	Workspaces []uuid.UUID
	Users      []uuid.UUID // besides the owner
	Names      []string    // workspace names and user emails, unique to this tenant
}

// pathParam matches a path parameter of a route pattern.
var pathParam = regexp.MustCompile(`\{([a-z_]+)\.{0,3}\}`)

// hasRoute reports whether the server has the route "METHOD /pattern".
func (a *app) hasRoute(method, pattern string) bool {
	for _, rt := range a.srv.Routes() {
		if rt.Method == method && rt.Pattern == pattern {
			return true
		}
	}
	return false
}

// operation is the OpenAPI operation of a route, nil if undocumented.
func operation(method, pattern string) *openapi3.Operation {
	doc, err := openAPIDoc()
	if err != nil || doc.Paths == nil {
		return nil
	}
	item := doc.Paths.Find(pattern)
	if item == nil {
		return nil
	}
	return item.GetOperation(method)
}

// requestSchema is the JSON request body schema of a route, nil if none.
func requestSchema(method, pattern string) *openapi3.Schema {
	mt := jsonRequestType(operation(method, pattern))
	if mt == "" {
		return nil
	}
	c := operation(method, pattern).RequestBody.Value.Content.Get(mt)
	if c == nil || c.Schema == nil || c.Schema.Value == nil {
		return nil
	}
	return c.Schema.Value
}

// jsonRequestType is the JSON media type an operation's body is documented
// in: application/json, else a +json type (application/merge-patch+json);
// "" when it takes no JSON body.
func jsonRequestType(op *openapi3.Operation) string {
	if op == nil || op.RequestBody == nil || op.RequestBody.Value == nil {
		return ""
	}
	content := op.RequestBody.Value.Content
	if content.Get("application/json") != nil {
		return "application/json"
	}
	types := make([]string, 0, len(content))
	for mt := range content {
		if strings.HasSuffix(mt, "+json") {
			types = append(types, mt)
		}
	}
	sort.Strings(types)
	if len(types) == 0 {
		return ""
	}
	return types[0]
}

// sampleBody builds a valid-looking body for schema: every property gets a
// value of its type; strings are unique (tag) so they can be searched for.
func sampleBody(s *openapi3.Schema, tag string, ids map[string]string) map[string]any {
	out := map[string]any{}
	if s == nil {
		return out
	}
	for name, ref := range s.Properties {
		if ref == nil || ref.Value == nil || ref.Value.ReadOnly {
			continue
		}
		if name == "tenant_id" && ids["tenant_id"] == "" {
			continue // naming a tenant is the flow's concern: the matrix's own cases
		}
		out[name] = sampleValue(name, ref.Value, tag, ids)
	}
	return out
}

func sampleValue(name string, s *openapi3.Schema, tag string, ids map[string]string) any {
	if len(s.Enum) > 0 {
		for _, v := range s.Enum {
			if v == "member" || v == "viewer" || v == "editor" {
				return v
			}
		}
		return s.Enum[0]
	}
	switch {
	case s.Type.Is("string"):
		switch {
		case ids[name] != "":
			return ids[name]
		case s.Format == "uuid":
			return uuid.NewString()
		case s.Format == "email" || strings.Contains(name, "email"):
			return tag + "@example.com"
		case s.Format == "date-time":
			return time.Now().UTC().Format(time.RFC3339)
		}
		return tag
	case s.Type.Is("integer"), s.Type.Is("number"):
		if s.Min != nil {
			return *s.Min
		}
		return 1
	case s.Type.Is("boolean"):
		return false
	case s.Type.Is("array"):
		return []any{}
	case s.Type.Is("object"):
		return sampleBody(s, tag, ids)
	}
	return tag
}

// create posts a sampled body to a collection route and returns the new id.
func (a *app) create(pattern, path, token, tag string, ids map[string]string) (uuid.UUID, bool) {
	a.t.Helper()
	if !a.hasRoute("POST", pattern) {
		return uuid.Nil, false
	}
	body := sampleBody(requestSchema("POST", pattern), tag, ids)
	res := a.do("POST", path, token, body)
	if res.Status/100 != 2 {
		a.t.Errorf("seed POST %s %v: %d %s", path, body, res.Status, res.Body)
		return uuid.Nil, false
	}
	var out struct {
		ID uuid.UUID `json:"id"`
	}
	json.Unmarshal(res.Body, &out)
	return out.ID, out.ID != uuid.Nil
}

// populate gives a tenant a workspace, a second user and a membership,
// through the API where its routes exist, else as the superuser.
func (a *app) populate(tn *tenant, label string) *holder {
	a.t.Helper()
	h := &holder{tenant: tn}
	for i := range 2 {
		name := fmt.Sprintf("ws-%s-%d-%s", label, i, uuid.NewString()[:8])
		id, ok := a.create("/v1/workspaces", "/v1/workspaces", tn.Token, name, nil)
		if !ok {
			id = a.seed(tn.ID, `INSERT INTO workspaces (tenant_id, name) VALUES ($1, $2) RETURNING id`, name)
		}
		h.Workspaces, h.Names = append(h.Workspaces, id), append(h.Names, name)
	}
	email := fmt.Sprintf("user-%s-%s", label, uuid.NewString()[:8])
	id, ok := a.create("/v1/users", "/v1/users", tn.Token, email, nil)
	if !ok {
		id = a.seed(tn.ID, `INSERT INTO users (tenant_id, email, role, password_hash) VALUES ($1, $2, 'member', 'x') RETURNING id`, email+"@example.com")
	}
	h.Users, h.Names = append(h.Users, id), append(h.Names, email)
	path := "/v1/workspaces/" + h.Workspaces[0].String() + "/members"
	if _, ok := a.create("/v1/workspaces/{id}/members", path, tn.Token, "m-"+label, map[string]string{"user_id": id.String()}); !ok {
		a.seed(tn.ID, `INSERT INTO workspace_members (tenant_id, workspace_id, user_id, role) VALUES ($1, $2, $3, 'viewer') RETURNING user_id`,
			h.Workspaces[0], id)
	}
	return h
}

// seed inserts a row as the superuser in the tenant's context and returns
// the id the statement returns.
func (a *app) seed(tenantID uuid.UUID, q string, args ...any) uuid.UUID {
	a.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, a.env.AdminURL)
	if err != nil {
		a.t.Fatal(err)
	}
	defer conn.Close(ctx)
	var id uuid.UUID
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL app.context = '"+tenantID.String()+"'"); err != nil {
			return err
		}
		return tx.QueryRow(ctx, q, append([]any{tenantID}, args...)...).Scan(&id)
	})
	if err != nil {
		a.t.Fatalf("seed %s: %v", q, err)
	}
	return id
}

// superQuery runs a query as the superuser and scans its rows as strings.
func (a *app) superQuery(q string, args ...any) [][]string {
	a.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, a.env.AdminURL)
	if err != nil {
		a.t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		a.t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			a.t.Fatal(err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			row[i] = fmt.Sprint(v)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		a.t.Fatal(err)
	}
	return out
}

// tenantTables lists every table with a tenant_id column (and tenants,
// keyed by id) except the logs that requests append to by design.
func (a *app) tenantTables() []string {
	rows := a.superQuery(`
SELECT c.table_name FROM information_schema.columns c
  JOIN information_schema.tables t USING (table_schema, table_name)
 WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE'
   AND c.table_name NOT IN ('audit_events', 'audit_heads', 'platform_flags', 'sessions')
 ORDER BY 1`)
	out := []string{"tenants"}
	for _, r := range rows {
		out = append(out, r[0])
	}
	return out
}

// checksums is one md5 per tenant table over the tenant's rows.
func (a *app) checksums(tenantID uuid.UUID) map[string]string {
	a.t.Helper()
	out := map[string]string{}
	for _, table := range a.tenantTables() {
		col := "tenant_id"
		if table == "tenants" {
			col = "id"
		}
		q := fmt.Sprintf(`SELECT coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), 'empty') FROM %s t WHERE %s = $1`,
			pgx.Identifier{table}.Sanitize(), col)
		out[table] = a.superQuery(q, tenantID)[0][0]
	}
	return out
}

// rowCounts counts the rows of every tenant table (all tenants).
func (a *app) rowCounts() map[string]string {
	a.t.Helper()
	var parts []string
	for _, table := range a.tenantTables() {
		parts = append(parts, fmt.Sprintf(`SELECT '%s', count(*) FROM %s`, table, pgx.Identifier{table}.Sanitize()))
	}
	out := map[string]string{}
	for _, r := range a.superQuery(strings.Join(parts, " UNION ALL ")) {
		out[r[0]] = r[1]
	}
	return out
}

// issuer mints tenant API tokens as the server does.
func (a *app) issuer(now func() time.Time) *auth.Issuer {
	return &auth.Issuer{Keys: a.ring.Keys, Issuer: "tenantd", Audience: "tenantd-api", Now: now}
}

// freshToken starts a new session for the tenant's owner and returns its
// access token, so a case that revokes a session (logout) spoils no other.
func (a *app) freshToken(tn *tenant) string {
	a.t.Helper()
	sid, err := a.env.DB.Identity().CreateSession(context.Background(), tn.ID, tn.OwnerID, []byte("not-a-refresh-hash"),
		time.Now().Add(time.Hour), tenantd.RequestInfo{ID: "test"})
	if err != nil {
		a.t.Fatal(err)
	}
	tok, _, err := a.issuer(nil).Issue(tn.OwnerID, tn.ID, sid)
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

// operatorToken mints a platform operator token.
func (a *app) operatorToken() string {
	a.t.Helper()
	iss := &auth.Issuer{Keys: a.ring.Keys, Issuer: "tenantd", Audience: "tenantd-operator", Typ: auth.TypOperator}
	tok, _, err := iss.Issue(uuid.New(), api.PlatformTenant, uuid.New())
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

// expiredToken is a correctly signed token of a live session that expired
// an hour ago.
func (a *app) expiredToken(tn *tenant) string {
	a.t.Helper()
	sid, err := a.env.DB.Identity().CreateSession(context.Background(), tn.ID, tn.OwnerID, []byte("x"), time.Now().Add(time.Hour), tenantd.RequestInfo{ID: "test"})
	if err != nil {
		a.t.Fatal(err)
	}
	tok, _, err := a.issuer(func() time.Time { return time.Now().Add(-2 * time.Hour) }).Issue(tn.OwnerID, tn.ID, sid)
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

// tamperTenant rewrites the tid claim of a signed token, keeping its
// signature.
func tamperTenant(t testing.TB, token string, tid uuid.UUID) string {
	t.Helper()
	claims := claimsOf(t, token)
	claims["tid"] = tid.String()
	raw, _ := json.Marshal(claims)
	parts := strings.Split(token, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

// pathFor substitutes the route's path parameters with the holder's ids
// (and names, such as a feature's, with a name that exists). It reports
// whether the route names ids, and fails on a parameter the matrix does
// not know: such a route has no isolation case yet.
func pathFor(t testing.TB, pattern string, h *holder) (string, bool) {
	t.Helper()
	ok := true
	hasIDs := false
	path := pathParam.ReplaceAllStringFunc(pattern, func(m string) string {
		name := pathParam.FindStringSubmatch(m)[1]
		switch {
		case name == "id" && strings.HasPrefix(pattern, "/v1/workspaces/"),
			name == "workspace_id":
			hasIDs = true
			return h.Workspaces[0].String()
		case name == "id" && strings.HasPrefix(pattern, "/v1/users/"),
			name == "user_id":
			hasIDs = true
			return h.Users[0].String()
		case name == "id" && strings.HasPrefix(pattern, "/v1/admin/tenants/"):
			hasIDs = true
			return h.ID.String()
		case name == "name" && strings.Contains(pattern, "/features/"),
			name == "key" && strings.HasPrefix(pattern, "/ofrep/"):
			return tenantd.FeatureCustomBranding
		}
		t.Errorf("route %s has no isolation case: unknown path parameter {%s} (teach pathFor which tenant's id it takes)", pattern, name)
		ok = false
		return "x"
	})
	if !ok {
		return "", false
	}
	return path, hasIDs
}

// markers are the strings of A that must never reach B.
func (h *holder) markers() []string {
	m := []string{h.ID.String(), h.Slug, h.OwnerID.String()}
	for _, id := range append(append([]uuid.UUID{}, h.Workspaces...), h.Users...) {
		m = append(m, id.String())
	}
	return append(m, h.Names...)
}

// assertNoLeak fails if a response carries any of A's markers, other than
// the echo of the request path (problem+json's instance).
func assertNoLeak(t testing.TB, what, path string, res *response, markers []string) {
	t.Helper()
	body := strings.ToLower(strings.ReplaceAll(string(res.Body), path, ""))
	var hdr strings.Builder
	for k, vs := range res.Header {
		hdr.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
	}
	headers := strings.ToLower(hdr.String())
	for _, m := range markers {
		lm := strings.ToLower(m)
		if strings.Contains(body, lm) {
			t.Errorf("%s: response body leaks tenant A's %q: %d %s", what, m, res.Status, res.Body)
		}
		if strings.Contains(headers, lm) {
			t.Errorf("%s: response headers leak tenant A's %q: %s", what, m, hdr.String())
		}
	}
}

func TestIsolationMatrix(t *testing.T) {
	t.Parallel()
	a := newApp(t, manyRefusals)
	A := a.populate(a.newTenant("enterprise"), "alpha")
	B := a.populate(a.newTenant("enterprise"), "bravo")
	a.enableBetas(A.tenant) // the beta routes are in the matrix too
	a.enableBetas(B.tenant)
	markers := A.markers()
	before := a.checksums(A.ID)

	// B's own audit log legitimately records the ids of A that B's probes
	// named (flagged foreign_id events, echoed filters): that is B's input,
	// not A's data. So the routes that read the audit log run first, before
	// any probe has put A's ids into B's log.
	routes := slices.Clone(a.srv.Routes())
	slices.SortStableFunc(routes, func(x, y api.Route) int {
		rx, ry := strings.HasPrefix(x.Pattern, "/v1/audit-events"), strings.HasPrefix(y.Pattern, "/v1/audit-events")
		switch {
		case rx && !ry:
			return -1
		case ry && !rx:
			return 1
		}
		return 0
	})
	for _, rt := range routes {
		if rt.Access != api.Public && rt.Access != api.Tenant && rt.Access != api.Operator {
			t.Errorf("route %s %s has access %d: no isolation case", rt.Method, rt.Pattern, rt.Access)
			continue
		}
		t.Run(rt.Method+" "+rt.Pattern, func(t *testing.T) {
			sub := *a
			sub.t = t
			switch rt.Access {
			case api.Public:
				sub.publicCase(rt, markers)
			case api.Tenant:
				sub.tenantCases(rt, A, B, markers)
			case api.Operator:
				sub.operatorCases(rt, A, B, markers)
			}
		})
	}

	// B has seen A's access token (its tid and sid are readable by
	// anyone): a refresh token made of them with any secret is refused,
	// flags nothing, and A's session lives on.
	claims := claimsOf(t, A.Token)
	forged := "rt1." + claims["tid"].(string) + "." + claims["sid"].(string) + "." + auth.NewSecret()
	if res := a.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": forged}); res.Status != 401 {
		t.Errorf("a forged refresh token for A's session: %d", res.Status)
	}
	if res := a.do("GET", "/v1/me", A.Token, nil); res.Status != 200 {
		t.Errorf("A's session after B forged its refresh token: %d", res.Status)
	}
	if got := a.flagged(A.ID, tenantd.FlagRefreshReuse); len(got) > 0 {
		t.Errorf("a forged refresh token was flagged as reuse in A's log: %+v", got)
	}

	after := a.checksums(A.ID)
	for table, sum := range before {
		if after[table] != sum {
			t.Errorf("tenant A's %s rows changed during the matrix", table)
		}
	}
}

// claimsOf reads the claims of a JWS without verifying it, as anyone
// holding the token can.
func claimsOf(t testing.TB, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// publicCase: a public route answers without a token and says nothing of A.
func (a *app) publicCase(rt api.Route, markers []string) {
	path := pathParam.ReplaceAllStringFunc(rt.Pattern, func(string) string { return "not-found" })
	var body any
	if rt.Method != "GET" {
		body = map[string]any{}
	}
	// Sent raw: /openapi.yaml is YAML, which the response validator
	// cannot match against its string schema.
	res := a.raw(rt.Method, path, body)
	if res.Status >= 500 {
		a.t.Errorf("public %s %s without a token: %d %s", rt.Method, path, res.Status, res.Body)
	}
	assertNoLeak(a.t, "public "+rt.Method+" "+path, path, res, markers)
}

// raw sends a request without a token and without OpenAPI validation.
func (a *app) raw(method, path string, body any) *response {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := nethttp.NewRequest(method, a.ts.URL+path, rd)
	res, err := a.ts.Client().Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return &response{Status: res.StatusCode, Header: res.Header, Body: b}
}

type matrixCase struct {
	name    string
	token   string
	path    string
	body    any
	headers []string
	status  int    // 0: see the route's expectation for B's own token
	flag    string // flagged event expected in B's log
}

// tenantCases: B attacks A through one tenant route.
func (a *app) tenantCases(rt api.Route, A, B *holder, markers []string) {
	t := a.t
	path, hasIDs := pathFor(t, rt.Pattern, A)
	if path == "" {
		return
	}
	write := rt.Method == "POST" || rt.Method == "PUT" || rt.Method == "PATCH"
	var body any
	if write {
		body = sampleBody(requestSchema(rt.Method, rt.Pattern), "matrix-"+uuid.NewString()[:8], nil)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	cases := []matrixCase{
		{name: "B's token on A's ids", token: a.freshToken(B.tenant), path: path, body: body},
		{name: "no token", path: path, body: body, status: 401},
		{name: "expired token", token: a.expiredToken(B.tenant), path: path, body: body, status: 401},
		{name: "tampered tid", token: tamperTenant(t, a.freshToken(B.tenant), A.ID), path: path, body: body, status: 401},
		{name: "X-Tenant-ID names A", token: a.freshToken(B.tenant), path: path, body: body,
			headers: []string{"X-Tenant-ID", A.ID.String()}, status: 403, flag: tenantd.FlagTenantMismatch},
		{name: "tenant_id parameter names A", token: a.freshToken(B.tenant), path: path + sep + "tenant_id=" + url.QueryEscape(A.ID.String()),
			body: body, status: 403, flag: tenantd.FlagTenantMismatch},
	}
	if hasIDs {
		cases[0].status, cases[0].flag = 404, tenantd.FlagForeignID
	}
	if write {
		withTenant := map[string]any{}
		for k, v := range body.(map[string]any) {
			withTenant[k] = v
		}
		withTenant["tenant_id"] = A.ID.String()
		cases = append(cases, matrixCase{name: "tenant_id field names A", token: a.freshToken(B.tenant), path: path,
			body: withTenant, status: 403, flag: tenantd.FlagTenantMismatch})
		// Where else the route's body may name a tenant (OFREP's context).
		for _, pointer := range rt.TenantFields {
			cases = append(cases, matrixCase{name: pointer + " names A", token: a.freshToken(B.tenant), path: path,
				body: withMember(body.(map[string]any), pointer, A.ID.String()), status: 403, flag: tenantd.FlagTenantMismatch})
		}
	}
	if rt.Method != "GET" {
		// B's console session with A's CSRF token, in cookie and header
		// alike: the token is bound to A's session.
		csrf := a.consoleLogin(A.tenant)["tenantd_csrf"].Value
		cases = append(cases, matrixCase{name: "B's session cookie with A's CSRF token", path: path, body: body,
			headers: []string{"Cookie", "tenantd_session=" + a.freshToken(B.tenant) + "; tenantd_csrf=" + csrf, "X-CSRF-Token", csrf},
			status:  403})
	}
	for _, c := range cases {
		what := rt.Method + " " + c.path + " (" + c.name + ")"
		flaggedBefore := 0
		if c.flag != "" {
			flaggedBefore = len(a.flagged(B.ID, c.flag))
		}
		res := a.do(rt.Method, c.path, c.token, c.body, c.headers...)
		switch {
		case c.status != 0 && res.Status != c.status:
			t.Errorf("%s: got %d, want %d: %s", what, res.Status, c.status, res.Body)
		case c.status == 0 && rt.Method == "GET" && res.Status/100 != 2:
			t.Errorf("%s: got %d, want 2xx with B's own data: %s", what, res.Status, res.Body)
		case c.status == 0 && (res.Status >= 500 || res.Status == 401 || res.Status == 404):
			t.Errorf("%s: got %d: %s", what, res.Status, res.Body)
		}
		// A request may name A's ids in its path; the problem's instance
		// echoes that path and nothing else of A.
		assertNoLeak(t, what, strings.SplitN(c.path, "?", 2)[0], res, markers)
		if c.flag != "" {
			if got := a.flagged(B.ID, c.flag); len(got) <= flaggedBefore {
				t.Errorf("%s: no %s event flagged in B's audit log", what, c.flag)
			} else if c.flag == tenantd.FlagForeignID && !strings.Contains(path, got[len(got)-1].Target.ID) {
				t.Errorf("%s: foreign_id event targets %s, not one of the ids in %s", what, got[len(got)-1].Target.ID, path)
			}
		}
	}
}

// withMember copies a JSON object and sets the member at a pointer of
// object member names, creating the objects on the way.
func withMember(doc map[string]any, pointer string, v any) map[string]any {
	out := maps.Clone(doc)
	names := strings.Split(strings.TrimPrefix(pointer, "/"), "/")
	if len(names) == 1 {
		out[names[0]] = v
		return out
	}
	inner, _ := out[names[0]].(map[string]any)
	if inner == nil {
		inner = map[string]any{}
	}
	out[names[0]] = withMember(inner, "/"+strings.Join(names[1:], "/"), v)
	return out
}

// operatorCases: an operator route refuses every tenant token (401), and
// answers nothing of A.
func (a *app) operatorCases(rt api.Route, A, B *holder, markers []string) {
	t := a.t
	path, _ := pathFor(t, rt.Pattern, A)
	if path == "" {
		return
	}
	var body any
	if rt.Method != "GET" && rt.Method != "DELETE" {
		body = map[string]any{"tenant_id": A.ID.String()}
	}
	tokens := map[string]string{
		"B's tenant token":  a.freshToken(B.tenant),
		"A's tenant token":  a.freshToken(A.tenant),
		"no token":          "",
		"expired token":     a.expiredToken(B.tenant),
		"tampered tid":      tamperTenant(t, a.freshToken(B.tenant), api.PlatformTenant),
		"X-Tenant-ID names": a.freshToken(B.tenant),
	}
	names := make([]string, 0, len(tokens))
	for k := range tokens {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		res := a.do(rt.Method, path, tokens[name], body, "X-Tenant-ID", A.ID.String())
		what := rt.Method + " " + path + " (" + name + ")"
		if res.Status != 401 {
			t.Errorf("%s: got %d, want 401: %s", what, res.Status, res.Body)
		}
		assertNoLeak(t, what, path, res, markers)
	}
}
