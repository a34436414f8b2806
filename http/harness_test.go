package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	nethttp "net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/auth"
	api "github.com/tenantd/tenantd/http"
	"github.com/tenantd/tenantd/internal/pgtest"
	"github.com/tenantd/tenantd/internal/redistest"
	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/ratelimit"
)

func TestMain(m *testing.M) {
	if _, err := redistest.Setup(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pgtest.Main(m)
}

// app is one test's running tenantd: a fresh database, a real Redis
// namespace, and the HTTP server on a loopback port.
type app struct {
	t      testing.TB
	env    *testenv.Env
	srv    *api.Server
	ring   *auth.KeyRing
	ts     *httptest.Server
	router routers.Router
}

var openAPIDoc = sync.OnceValues(func() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPIDocument)
	if err != nil {
		return nil, err
	}
	doc.Servers = nil // match requests to any test server's address
	return doc, doc.Validate(context.Background())
})

// option changes the server a test runs before it starts.
type option func(*testenv.Env, *api.Deps, *api.Config)

// behindProxy makes the loopback peer a trusted proxy, so a test sets the
// client's address with X-Forwarded-For (see from).
func behindProxy(_ *testenv.Env, _ *api.Deps, c *api.Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// slowBackoff makes a login lockout last an hour, so a test's refused
// attempts stay refused however slowly the machine runs it.
func slowBackoff(_ *testenv.Env, d *api.Deps, _ *api.Config) {
	p := ratelimit.DefaultLoginPolicy()
	p.Pair.BaseDelay, p.Client.BaseDelay, p.Device.BaseDelay = time.Hour, time.Hour, time.Hour
	d.Throttle.WithPolicy(p)
}

// manyRefusals lifts the budget of refused requests, for tests that are
// refused on purpose many times a minute.
func manyRefusals(_ *testenv.Env, _ *api.Deps, c *api.Config) {
	c.RefusalLimit = ratelimit.Policy{Rate: 100_000, Period: time.Minute}
}

// from is the header that makes a request come from ip, on an app
// behindProxy.
func from(ip string) []string { return []string{"X-Forwarded-For", ip} }

func newApp(t testing.TB, opts ...option) *app {
	t.Helper()
	env := testenv.New(t)
	rdb, prefix := redistest.New(t)
	master := make([]byte, auth.MasterKeySize)
	ring := &auth.KeyRing{Store: env.DB.Keys(), Master: master}
	if err := ring.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	deps := api.Deps{
		Stores: env.DB.Stores(), Keys: ring.Keys,
		Limiter:  ratelimit.New(rdb, prefix+"rl:"),
		Throttle: ratelimit.NewLoginThrottle(rdb, prefix+"login:"),
		Logger:   slog.New(slog.DiscardHandler),
	}
	var cfg api.Config
	for _, o := range opts {
		o(env, &deps, &cfg)
	}
	srv := api.NewServer(deps, cfg)
	t.Cleanup(srv.Close) // after the test server closed, before the database does
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	doc, err := openAPIDoc()
	if err != nil {
		t.Fatalf("openapi: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("openapi router: %v", err)
	}
	a := &app{t: t, env: env, srv: srv, ring: ring, ts: ts, router: router}
	t.Cleanup(a.checkActions)
	return a
}

// checkActions fails the test if anything it did recorded an audit event
// whose action is not a current name of the catalogue (tenantd.Actions):
// every test of this package holds the server, the door and the database's
// triggers to it.
func (a *app) checkActions() {
	for _, row := range a.superQuery(`SELECT DISTINCT action FROM audit_events`) {
		known := false
		for _, c := range tenantd.Actions {
			known = known || c.Name == row[0] && c.ReplacedBy == ""
		}
		if !known {
			a.t.Errorf("an audit event was recorded with action %q, which is not in tenantd.Actions", row[0])
		}
	}
}

var slugSeq atomic.Int64

// tenant is a provisioned tenant with its owner logged in.
type tenant struct {
	ID      uuid.UUID
	Slug    string
	OwnerID uuid.UUID
	Email   string
	Token   string
	Refresh string
}

const password = "correct horse battery staple"

func (a *app) newTenant(plan string) *tenant {
	a.t.Helper()
	slug := fmt.Sprintf("acme-%d-%s", slugSeq.Add(1), uuid.NewString()[:6])
	return a.newTenantSlug(slug, plan, "owner@example.com")
}

func (a *app) newTenantSlug(slug, plan, email string) *tenant {
	a.t.Helper()
	hash, err := auth.HashPassword(password + slug)
	if err != nil {
		a.t.Fatal(err)
	}
	tn, owner, err := a.env.DB.Platform().CreateTenant(context.Background(), tenantd.NewTenant{
		Slug: slug, Name: "Tenant " + slug, Plan: plan, OwnerEmail: email, OwnerPasswordHash: hash,
	}, tenantd.RequestInfo{ID: "test"})
	if err != nil {
		a.t.Fatal(err)
	}
	tk := &tenant{ID: tn.ID, Slug: slug, OwnerID: owner.ID, Email: email}
	tk.Token, tk.Refresh = a.login(slug, email, password+slug)
	return tk
}

func (a *app) login(slug, email, pw string) (string, string) {
	a.t.Helper()
	res := a.do("POST", "/v1/auth/login", "", map[string]any{"tenant": slug, "email": email, "password": pw})
	if res.Status != 200 {
		a.t.Fatalf("login %s/%s: %d %s", slug, email, res.Status, res.Body)
	}
	var tok struct{ AccessToken, RefreshToken string }
	json.Unmarshal(res.Body, &struct {
		A *string `json:"access_token"`
		R *string `json:"refresh_token"`
	}{&tok.AccessToken, &tok.RefreshToken})
	return tok.AccessToken, tok.RefreshToken
}

// response is a received response, already validated against the OpenAPI
// document.
type response struct {
	Status int
	Header nethttp.Header
	Body   []byte
}

func (r *response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// do sends a request with an optional bearer token and JSON body (a
// string body is sent as is), and validates the response against the
// OpenAPI document: the document cannot drift from the server.
func (a *app) do(method, path, token string, body any, headers ...string) *response {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := nethttp.NewRequest(method, a.ts.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", a.bodyType(req))
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := a.ts.Client().Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := &response{Status: res.StatusCode, Header: res.Header, Body: raw}
	a.validate(req, out)
	return out
}

// bodyType is the JSON media type the OpenAPI document gives the
// request's body (application/merge-patch+json for a merge patch), as a
// client generated from it sends; application/json when it gives none.
func (a *app) bodyType(req *nethttp.Request) string {
	if route, _, err := a.router.FindRoute(req); err == nil {
		if mt := jsonRequestType(route.Operation); mt != "" {
			return mt
		}
	}
	return "application/json"
}

func (a *app) validate(req *nethttp.Request, res *response) {
	a.t.Helper()
	if res.Status >= 500 && res.Status != 503 {
		a.t.Errorf("%s %s: server error %d %s", req.Method, req.URL.Path, res.Status, res.Body)
	}
	if res.Status >= 400 && !strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
		a.t.Errorf("%s %s: error %d is not problem+json", req.Method, req.URL.Path, res.Status)
	}
	route, params, err := a.router.FindRoute(req)
	if err != nil {
		if res.Status == 404 || res.Status == 405 {
			return // an unknown route answered as such
		}
		a.t.Errorf("%s %s: not in the OpenAPI document: %v", req.Method, req.URL.Path, err)
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{ExcludeRequestBody: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: res.Status, Header: res.Header,
		Body:    io.NopCloser(bytes.NewReader(res.Body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	})
	if err != nil {
		a.t.Errorf("%s %s: response %d does not match the OpenAPI document: %v\n%s", req.Method, req.URL.Path, res.Status, err, res.Body)
	}
	// Stricter than kin-openapi: the status is listed for the operation
	// (not merely covered by its default), and every header the server
	// sent is declared for it, so a generated client knows all it gets.
	// (Unknown body fields fail already: every response schema is closed,
	// see TestOpenAPIResponsesAreClosed.)
	declared := route.Operation.Responses.Status(res.Status)
	if declared == nil || declared.Value == nil {
		a.t.Errorf("%s %s: status %d is not listed in the OpenAPI document (only its default covers it)", req.Method, req.URL.Path, res.Status)
		return
	}
	for name := range res.Header {
		if standardHeaders[name] {
			continue
		}
		if !declaresHeader(declared.Value.Headers, name) {
			a.t.Errorf("%s %s: response %d sends header %s, which the OpenAPI document does not declare for it", req.Method, req.URL.Path, res.Status, name)
		}
	}
}

// standardHeaders may come with any response without being declared: they
// describe the message, not the API.
var standardHeaders = map[string]bool{"Content-Type": true, "Content-Length": true, "Date": true,
	"Cache-Control": true, "X-Content-Type-Options": true, "Connection": true}

// declaresHeader reports whether headers declares name (header names are
// case-insensitive: RateLimit-Policy comes back as Ratelimit-Policy).
func declaresHeader(headers openapi3.Headers, name string) bool {
	for k := range headers {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// events returns the tenant's audit events (as the superuser, so the test
// sees exactly what is stored).
func (a *app) events(tenant uuid.UUID, action string) []tenantd.AuditEvent {
	a.t.Helper()
	conn, err := pgx.Connect(context.Background(), a.env.AdminURL)
	if err != nil {
		a.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `
SELECT pos, id, seq, action, actor_type, actor_id, target_type, target_id, outcome, flagged, flag_reason, changes
  FROM audit_events WHERE tenant_id = $1 AND ($2 = '' OR action = $2) ORDER BY pos`, tenant, action)
	if err != nil {
		a.t.Fatal(err)
	}
	defer rows.Close()
	var out []tenantd.AuditEvent
	for rows.Next() {
		var e tenantd.AuditEvent
		if err := rows.Scan(&e.Pos, &e.ID, &e.Seq, &e.Action, &e.Actor.Type, &e.Actor.ID, &e.Target.Type, &e.Target.ID,
			&e.Outcome, &e.Flagged, &e.FlagReason, &e.Changes); err != nil {
			a.t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// flagged returns the tenant's events flagged with the given reason, as
// the platform's security view has them: flagged in the tenant's log, or
// for the platform only (platform_flags).
func (a *app) flagged(tenant uuid.UUID, reason string) []tenantd.AuditEvent {
	platform := map[int64]string{}
	for _, row := range a.superQuery(`SELECT pos, flag_reason FROM platform_flags WHERE tenant_id = $1`, tenant) {
		pos, _ := strconv.ParseInt(row[0], 10, 64)
		platform[pos] = row[1]
	}
	var out []tenantd.AuditEvent
	for _, e := range a.events(tenant, "") {
		if e.Flagged && e.FlagReason == reason || platform[e.Pos] == reason {
			out = append(out, e)
		}
	}
	return out
}

// sql runs a statement as the superuser (test setup and attacks only).
// When the first argument is a tenant id, the statement runs in that
// tenant's context, as the triggers (usage counters, the audit chain)
// expect of anyone who changes a tenant's rows.
func (a *app) sql(q string, args ...any) {
	a.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, a.env.AdminURL)
	if err != nil {
		a.t.Fatal(err)
	}
	defer conn.Close(ctx)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if len(args) > 0 {
			if id, ok := args[0].(uuid.UUID); ok {
				if _, err := tx.Exec(ctx, "SET LOCAL app.context = '"+id.String()+"'"); err != nil {
					return err
				}
			}
		}
		_, err := tx.Exec(ctx, q, args...)
		return err
	})
	if err != nil {
		a.t.Fatal(err)
	}
}

var _ = tenantd.Scope{}
