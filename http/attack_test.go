package http_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
	api "github.com/tenantd/tenantd/http"
)

// The attack suite sends every JSON-accepting route (from the route table)
// hostile bodies, and every paginated list hostile page parameters. Each
// must be refused with a 4xx problem+json, never a 5xx, and store nothing.

type attack struct {
	name string
	body any // string and []byte are sent as is
	want int // 0: any 4xx
	// mayStore: the input is valid text (SQL metacharacters), so the route
	// may accept and store it; it still must not fail.
	mayStore bool
}

// attacksFor builds the hostile bodies for a route from its OpenAPI
// request schema (fields, their types) and a valid-looking sample.
func attacksFor(method, pattern string, ids map[string]string) []attack {
	schema := requestSchema(method, pattern)
	sample := sampleBody(schema, "attack-"+uuid.NewString()[:8], ids)
	with := func(field string, v any) map[string]any {
		m := maps.Clone(sample)
		m[field] = v
		return m
	}
	out := []attack{
		{name: "malformed JSON", body: `{"name": `},
		{name: "not an object", body: `[1,2,3]`},
		{name: "trailing data", body: `{} {}`},
		{name: "unknown field", body: with("zz_unknown_field", 1)},
		{name: "over 1 MiB", body: `{"name":"` + strings.Repeat("a", 1<<20+16) + `"}`, want: 413},
		{name: "invalid UTF-8", body: []byte("{\"name\":\"\xff\xfe\xfd\"}")},
	}
	fields := make([]string, 0, len(schema.Properties))
	for f := range schema.Properties {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	for _, f := range fields {
		s := schema.Properties[f].Value
		if s == nil || s.ReadOnly {
			continue
		}
		if !s.Type.Is("integer") && !s.Type.Is("number") {
			out = append(out, attack{name: f + " as a number", body: with(f, 12345)})
		}
		if !s.Type.Is("array") {
			out = append(out, attack{name: f + " as an array", body: with(f, []any{"x", 1})})
		}
		if !s.Type.Is("object") {
			out = append(out, attack{name: f + " as an object", body: with(f, map[string]any{"x": 1})})
		}
		if s.Type.Is("string") && len(s.Enum) == 0 && s.Format == "" {
			out = append(out,
				attack{name: f + " 100 KB long", body: with(f, strings.Repeat("x", 100<<10))},
				attack{name: f + " with a NUL byte", body: with(f, "a\x00b")},
				attack{name: f + " with SQL metacharacters", body: with(f, "'; DROP TABLE users; --"), mayStore: true},
			)
		}
		if s.Type.Is("string") && (len(s.Enum) > 0 || s.Format != "") {
			out = append(out, attack{name: f + " with SQL metacharacters", body: with(f, "'; DROP TABLE users; --")})
		}
	}
	return out
}

func TestAttackBodies(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	victim := a.populate(a.newTenant("enterprise"), "victim")
	ids := map[string]string{"user_id": victim.Users[0].String(), "workspace_id": victim.Workspaces[0].String()}
	for _, rt := range a.srv.Routes() {
		if rt.Method != "POST" && rt.Method != "PUT" && rt.Method != "PATCH" {
			continue
		}
		if requestSchema(rt.Method, rt.Pattern) == nil {
			continue // takes no JSON body (logout)
		}
		t.Run(rt.Method+" "+rt.Pattern, func(t *testing.T) {
			sub := *a
			sub.t = t
			path := pathParam.ReplaceAllStringFunc(rt.Pattern, func(m string) string {
				switch name := pathParam.FindStringSubmatch(m)[1]; {
				case name == "workspace_id" || name == "id" && strings.HasPrefix(rt.Pattern, "/v1/workspaces/"):
					return victim.Workspaces[1].String()
				case name == "user_id" || name == "id" && strings.HasPrefix(rt.Pattern, "/v1/users/"):
					return victim.Users[0].String()
				case name == "id" && strings.HasPrefix(rt.Pattern, "/v1/admin/tenants/"):
					return victim.ID.String()
				case name == "name" && strings.Contains(rt.Pattern, "/features/"),
					name == "key" && strings.HasPrefix(rt.Pattern, "/ofrep/"):
					return tenantd.FeatureAPIRateLimit
				}
				return uuid.NewString()
			})
			for _, at := range attacksFor(rt.Method, rt.Pattern, ids) {
				token := ""
				switch rt.Access {
				case api.Tenant:
					token = sub.freshToken(victim.tenant)
				case api.Operator:
					token = sub.operatorToken()
				}
				counts := sub.rowCounts()
				res := sub.do(rt.Method, path, token, at.body)
				what := rt.Method + " " + path + " (" + at.name + ")"
				switch {
				case res.Status >= 500:
					t.Errorf("%s: server error %d: %s", what, res.Status, res.Body)
				case at.mayStore && res.Status < 500:
					// Valid text: stored or refused, both fine; the tables survive.
				case at.want != 0 && res.Status != at.want:
					t.Errorf("%s: got %d, want %d: %.300s", what, res.Status, at.want, res.Body)
				case res.Status/100 != 4:
					t.Errorf("%s: got %d, want 4xx: %.300s", what, res.Status, res.Body)
				}
				if res.Status/100 == 4 {
					if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
						t.Errorf("%s: %d is not problem+json", what, res.Status)
					}
					if after := sub.rowCounts(); !reflect.DeepEqual(counts, after) {
						t.Errorf("%s: refused with %d but rows changed: %v -> %v", what, res.Status, counts, after)
					}
				}
			}
		})
	}
	if n := a.superQuery(`SELECT count(*) FROM users`); n[0][0] == "0" {
		t.Error("the users table is empty after the SQL metacharacter attacks")
	}
}

// listRoutes are the GET routes whose OpenAPI operation takes limit or
// cursor: the paginated lists.
func listRoutes(routes []api.Route) []api.Route {
	var out []api.Route
	for _, rt := range routes {
		if rt.Method != "GET" {
			continue
		}
		op := operation(rt.Method, rt.Pattern)
		if op == nil {
			continue
		}
		for _, p := range op.Parameters {
			if p.Value != nil && p.Value.In == "query" && (p.Value.Name == "limit" || p.Value.Name == "cursor") {
				out = append(out, rt)
				break
			}
		}
	}
	return out
}

func TestAttackPagination(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	victim := a.populate(a.newTenant("enterprise"), "pages")
	lists := listRoutes(a.srv.Routes())
	if len(lists) == 0 {
		t.Skip("no paginated list route yet")
	}
	other, _ := json.Marshal(map[string]any{"id": uuid.NewString(), "seq": -1, "after": "2000-01-01"})
	for _, rt := range lists {
		t.Run(rt.Pattern, func(t *testing.T) {
			sub := *a
			sub.t = t
			path := pathParam.ReplaceAllStringFunc(rt.Pattern, func(m string) string {
				if strings.HasPrefix(rt.Pattern, "/v1/users/") {
					return victim.Users[0].String()
				}
				return victim.Workspaces[0].String()
			})
			token := sub.freshToken(victim.tenant)
			if rt.Access == api.Operator {
				token = sub.operatorToken()
			}
			for _, q := range []string{
				"limit=-1", "limit=0", "limit=999999999", "limit=abc", "limit=1e3",
				"cursor=garbage", "cursor=%00%ff", "cursor=" + strings.Repeat("A", 10000),
				"cursor=" + b64(other), "cursor=" + b64([]byte(`{"id":"'; DROP TABLE users; --"}`)),
			} {
				res := sub.do("GET", path+"?"+q, token, nil)
				if res.Status/100 != 4 {
					t.Errorf("GET %s?%.60s: got %d, want 4xx: %.300s", path, q, res.Status, res.Body)
				}
			}
		})
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestAttackNilUUID sends the nil UUID (and the max UUID) in every path id of
// every tenant route: each must answer like any unknown id, a 404 (or a 4xx
// that the route gives every unknown id), never a 5xx, and change nothing.
func TestAttackNilUUID(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	victim := a.populate(a.newTenant("enterprise"), "niluuid")
	for _, rt := range a.srv.Routes() {
		if rt.Access != api.Tenant || !pathParam.MatchString(rt.Pattern) {
			continue
		}
		for _, id := range []string{uuid.Nil.String(), "ffffffff-ffff-ffff-ffff-ffffffffffff"} {
			t.Run(rt.Method+" "+rt.Pattern+" "+id[:4], func(t *testing.T) {
				sub := *a
				sub.t = t
				path := pathParam.ReplaceAllString(rt.Pattern, id)
				var body any
				if schema := requestSchema(rt.Method, rt.Pattern); schema != nil {
					body = sampleBody(schema, "nil-"+uuid.NewString()[:8], map[string]string{
						"user_id": victim.Users[0].String(), "workspace_id": victim.Workspaces[0].String()})
				}
				counts := sub.rowCounts()
				res := sub.do(rt.Method, path, sub.freshToken(victim.tenant), body)
				if res.Status != 404 {
					t.Errorf("%s %s: got %d, want 404: %.300s", rt.Method, path, res.Status, res.Body)
				}
				if after := sub.rowCounts(); !reflect.DeepEqual(counts, after) {
					t.Errorf("%s %s: rows changed: %v -> %v", rt.Method, path, counts, after)
				}
			})
		}
	}
}

// A query string that does not parse (more parameters than Go parses, a
// semicolon separator) is refused on every route: parsed leniently it
// would lose its tenant_id, so a request naming another tenant would pass
// unflagged, and an audit filter would silently be dropped.
func TestAttackUnparsableQuery(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	victim := a.populate(a.newTenant("enterprise"), "query")
	other := uuid.NewString()
	flood := "tenant_id=" + other + strings.Repeat("&z=1", 10_000)
	for _, rt := range a.srv.Routes() {
		t.Run(rt.Method+" "+rt.Pattern, func(t *testing.T) {
			sub := *a
			sub.t = t
			path := pathParam.ReplaceAllStringFunc(rt.Pattern, func(m string) string {
				switch name := pathParam.FindStringSubmatch(m)[1]; {
				case name == "workspace_id" || name == "id" && strings.HasPrefix(rt.Pattern, "/v1/workspaces/"):
					return victim.Workspaces[0].String()
				case name == "user_id" || name == "id" && strings.HasPrefix(rt.Pattern, "/v1/users/"):
					return victim.Users[0].String()
				case name == "id" && strings.HasPrefix(rt.Pattern, "/v1/admin/tenants/"):
					return victim.ID.String()
				case name == "name" && strings.Contains(rt.Pattern, "/features/"),
					name == "key" && strings.HasPrefix(rt.Pattern, "/ofrep/"):
					return tenantd.FeatureAPIRateLimit
				}
				return "openapi"
			})
			var body any
			if schema := requestSchema(rt.Method, rt.Pattern); schema != nil {
				body = sampleBody(schema, "query-"+uuid.NewString()[:8], map[string]string{"user_id": victim.Users[0].String()})
			}
			for _, q := range []string{flood, "action=workspace.created;tenant_id=" + other, "tenant_id=" + other + "&x=%zz"} {
				token := ""
				switch rt.Access {
				case api.Tenant:
					token = sub.freshToken(victim.tenant)
				case api.Operator:
					token = sub.operatorToken()
				}
				flaggedBefore := len(sub.flagged(victim.ID, tenantd.FlagTenantMismatch))
				counts := sub.rowCounts()
				res := sub.do(rt.Method, path+"?"+q, token, body)
				what := fmt.Sprintf("%s %s?%.50s…", rt.Method, path, q)
				switch {
				case res.Status == 400:
				case res.Status == 403 && len(sub.flagged(victim.ID, tenantd.FlagTenantMismatch)) > flaggedBefore:
				default:
					t.Errorf("%s: got %d, want 400 (or a flagged 403): %.300s", what, res.Status, res.Body)
				}
				if after := sub.rowCounts(); !reflect.DeepEqual(counts, after) {
					t.Errorf("%s: refused with %d but rows changed: %v -> %v", what, res.Status, counts, after)
				}
			}
		})
	}
}
