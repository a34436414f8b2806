package http

import (
	"net/http"
)

// Access says who may call a route.
type Access int

const (
	Public   Access = iota // no token (login, JWKS, health)
	Tenant                 // a tenant user's token: the seven-step flow
	Operator               // a platform operator's token
)

// Route is one entry of the route table. The isolation matrix test walks
// this table, so a route cannot be added without an isolation case.
type Route struct {
	Method  string
	Pattern string
	Access  Access
	Summary string
	// Streaming routes (exports) are not bound by the request timeout.
	Streaming bool
	// Heavy routes cost in proportion to the tenant's data (exports): a
	// tenant runs at most Config.HeavyPerTenant of them at once, and they
	// draw on its rate limit by the rows they send (heavy.go).
	Heavy bool
	// Query lists the query parameters the route takes. Any other is a 400
	// (params.go): a mistyped filter must never read as an unfiltered
	// answer. tenant_id is taken on every tenant route, checked by the flow.
	Query []string
	// NoIdempotencyKey exempts a tenant POST from the Idempotency-Key
	// protocol (idempotency.go): introspection reads, and logout is
	// idempotent by nature (and its session is gone afterwards). Every other
	// tenant POST honours the header.
	NoIdempotencyKey bool
	// Beta names the beta ("beta.<name>", tenantd.Betas) a tenant route
	// belongs to: to a tenant without that feature it answers 404, exactly
	// like a route that does not exist, and the tenant's /openapi.yaml
	// does not show it (openapi.go).
	Beta string
	// TenantFields are JSON pointers, besides /tenant_id, at which the
	// route's body may name a tenant (OFREP's /context/tenant_id): one that
	// names another tenant is refused and flagged like a foreign tenant_id.
	TenantFields []string

	public   func(http.ResponseWriter, *http.Request) error
	tenant   func(http.ResponseWriter, *http.Request, *call) error
	operator func(http.ResponseWriter, *http.Request, *operatorCall) error
}

// routeTable lists every route: where to find the handler of any endpoint.
func (s *Server) routeTable() []Route {
	routes := []Route{
		{Method: "GET", Pattern: "/healthz", Access: Public, Summary: "Process is up", public: s.healthz},
		{Method: "GET", Pattern: "/readyz", Access: Public, Summary: "Database reachable and migrated", public: s.readyz},
		{Method: "GET", Pattern: "/openapi.yaml", Access: Public, Summary: "This API's OpenAPI document", public: s.serveOpenAPI},
		{Method: "GET", Pattern: "/problems/{name}", Access: Public, Summary: "Problem type documentation", public: serveProblemDoc},
		{Method: "GET", Pattern: "/.well-known/jwks.json", Access: Public, Summary: "Public keys that verify tokens", public: s.jwks},

		{Method: "POST", Pattern: "/v1/auth/login", Access: Public, Summary: "Log in to one tenant", public: s.login},
		{Method: "POST", Pattern: "/v1/auth/refresh", Access: Public, Summary: "Rotate a refresh token", public: s.refresh},
		{Method: "POST", Pattern: "/v1/auth/logout", Access: Tenant, Summary: "Revoke the session", NoIdempotencyKey: true, tenant: s.logout},
		{Method: "POST", Pattern: "/v1/auth/introspect", Access: Tenant, Summary: "Introspect a token of the caller's tenant (RFC 7662)", NoIdempotencyKey: true, tenant: s.introspect}, // introspect.go
		{Method: "GET", Pattern: "/v1/me", Access: Tenant, Summary: "The caller and their tenant", tenant: s.me},
	}
	routes = append(routes, s.auditRoutes()...)        // audit.go
	routes = append(routes, s.organisationRoutes()...) // users.go, workspaces.go
	routes = append(routes, s.tenantAdminRoutes()...)  // tenantadmin.go
	routes = append(routes, s.settingsRoutes()...)     // settings.go
	routes = append(routes, s.ofrepRoutes()...)        // ofrep.go
	if !s.cfg.SeparateMetrics {
		routes = append(routes, Route{Method: "GET", Pattern: "/metrics", Access: Operator,
			Summary: "Prometheus metrics (platform-wide)", operator: s.serveMetrics})
	}
	for i, rt := range routes {
		if rt.Method == http.MethodPost && rt.Access == Tenant && !rt.NoIdempotencyKey {
			routes[i].tenant = s.idempotent(rt.tenant) // idempotency.go
		}
	}
	return routes
}

// wrap turns a route into a handler that runs the right flow for it.
func (s *Server) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stateOf(r.Context()).route = rt.Method + " " + rt.Pattern
		switch rt.Access {
		case Public:
			err := checkParams(r, rt) // the tenant and operator flows check them too
			if err == nil {
				err = rt.public(w, r)
			}
			if err != nil {
				writeError(w, r, err)
			}
		case Tenant:
			s.serveTenant(w, r, rt)
		case Operator:
			s.serveOperator(w, r, rt)
		}
	})
}
