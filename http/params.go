package http

import (
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tenantd/tenantd"
)

// The one query-parameter policy of every route: a route declares the
// parameters it takes (Route.Query); an unknown or repeated parameter, or
// one that is not valid text, is a 400 before the handler runs, so a
// mistyped filter is never a silently unfiltered answer.

// pageParams are the parameters of every keyset-paginated list.
var pageParams = []string{"limit", "cursor"}

// checkParams refuses a request whose query the route does not take. On a
// tenant route tenant_id is also taken: the flow has already refused one
// that names another tenant.
func checkParams(r *http.Request, rt Route) error {
	q, err := query(r)
	if err != nil {
		return err
	}
	for k, vs := range q {
		if !slices.Contains(rt.Query, k) && !(k == "tenant_id" && rt.Access == Tenant) {
			return tenantd.Errorf(tenantd.EBADREQUEST, "Unknown parameter %q.", clip(k))
		}
		if len(vs) != 1 {
			return tenantd.Errorf(tenantd.EBADREQUEST, "Parameter %q may be given only once.", clip(k))
		}
		if !utf8.ValidString(vs[0]) || strings.ContainsRune(vs[0], 0) {
			return tenantd.Errorf(tenantd.EBADREQUEST, "Parameter %q is not valid text.", clip(k))
		}
	}
	return nil
}

// params returns the request's query parameters, one value each (checkParams
// has refused repeats).
func params(r *http.Request) (map[string]string, error) {
	q, err := query(r)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(q))
	for k, vs := range q {
		out[k] = vs[0]
	}
	return out, nil
}
