package http_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	api "github.com/tenantd/tenantd/http"
)

// The document promises what a generated client relies on, for every
// operation of the route table: an operationId and a tag, named schemas
// for bodies, closed response objects, uuid path ids, a default problem,
// and the headers the server sends.
func TestOpenAPIOperations(t *testing.T) {
	a := newApp(t)
	for _, rt := range a.srv.Routes() {
		what := rt.Method + " " + rt.Pattern
		op := operation(rt.Method, rt.Pattern)
		if op == nil {
			t.Errorf("%s is not in the OpenAPI document", what)
			continue
		}
		if op.OperationID == "" || len(op.Tags) == 0 {
			t.Errorf("%s: operationId %q, tags %v", what, op.OperationID, op.Tags)
		}
		if d := op.Responses.Default(); d == nil || d.Ref != "#/components/responses/Problem" {
			t.Errorf("%s: no default problem response", what)
		}
		if op.RequestBody != nil {
			for mt, c := range op.RequestBody.Value.Content {
				if c.Schema == nil || c.Schema.Ref == "" {
					t.Errorf("%s: request body %s is not a named schema", what, mt)
				}
			}
		}
		for _, p := range append(op.Parameters, doc(t).Paths.Find(rt.Pattern).Parameters...) {
			// Ids are UUIDs; names (a problem type, a feature, a flag key) are not.
			isID := p.Value.Name == "id" || strings.HasSuffix(p.Value.Name, "_id")
			if p.Value.In == "path" && isID && p.Value.Schema.Value.Format != "uuid" {
				t.Errorf("%s: path parameter %s is not format: uuid", what, p.Value.Name)
			}
		}
		for code, ref := range op.Responses.Map() {
			r := ref.Value
			required := []string{"X-Request-Id"}
			switch code {
			case "401":
				required = append(required, "WWW-Authenticate")
			case "429", "503":
				required = append(required, "Retry-After")
			}
			for _, h := range required {
				if hr := r.Headers[h]; hr == nil || !hr.Value.Required {
					t.Errorf("%s %s: header %s is not declared as required", what, code, h)
				}
			}
			if rt.Access == api.Tenant && (r.Headers["RateLimit"] == nil || r.Headers["RateLimit-Policy"] == nil) {
				t.Errorf("%s %s: a tenant route's response without RateLimit and RateLimit-Policy", what, code)
			}
			if status, err := strconv.Atoi(code); err == nil && status >= 400 || code == "default" {
				if !strings.HasPrefix(ref.Ref, "#/components/responses/") {
					t.Errorf("%s %s: an error response that is not a named problem response", what, code)
				}
			}
			for mt, c := range r.Content {
				if c.Schema == nil {
					t.Errorf("%s %s %s: no schema", what, code, mt)
					continue
				}
				if mt == "application/json" && c.Schema.Ref == "" {
					t.Errorf("%s %s: a JSON body that is not a named schema", what, code)
				}
				if rt.Pattern != "/openapi.yaml" {
					closed(t, what+" "+code+" "+mt, c.Schema, map[*openapi3.Schema]bool{})
				}
			}
		}
	}
}

func doc(t testing.TB) *openapi3.T {
	t.Helper()
	d, err := openAPIDoc()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// closed fails for an object schema that allows properties it does not
// name: the strict validation of every response the tests receive relies
// on it to catch a field the document does not describe.
func closed(t *testing.T, where string, ref *openapi3.SchemaRef, seen map[*openapi3.Schema]bool) {
	if ref == nil || ref.Value == nil || seen[ref.Value] {
		return
	}
	s := ref.Value
	seen[s] = true
	if s.Type.Is("object") && s.AdditionalProperties.Schema == nil &&
		(s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has) {
		t.Errorf("%s: schema %s allows unknown properties (additionalProperties: false is missing)", where, ref.Ref)
	}
	for _, p := range s.Properties {
		closed(t, where, p, seen)
	}
	closed(t, where, s.Items, seen)
	closed(t, where, s.AdditionalProperties.Schema, seen)
	for _, group := range [][]*openapi3.SchemaRef{s.AllOf, s.AnyOf, s.OneOf} {
		for _, x := range group {
			closed(t, where, x, seen)
		}
	}
}
