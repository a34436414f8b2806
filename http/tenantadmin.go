package http

import (
	"encoding/json"
	"net/http"

	"github.com/tenantd/tenantd"
)

// tenantAdminRoutes are the platform operators' routes for managing
// tenants, with an operator token (`tenantd operator token`); `tenantd
// tenant …` does the same from the command line. SQL: postgres/tenantadmin.go.
// Every change runs in the tenant's own context and is recorded in its
// audit log by the database (tenant.updated), with the operator as actor.
func (s *Server) tenantAdminRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/v1/admin/tenants", Access: Operator, Query: append([]string{"plan", "status", "region"}, pageParams...),
			Summary: "List tenants", operator: s.listTenants},
		{Method: "GET", Pattern: "/v1/admin/tenants/{id}", Access: Operator,
			Summary: "A tenant's plan, limits and features with their sources, and usage", operator: s.getTenant},
		{Method: "PUT", Pattern: "/v1/admin/tenants/{id}/plan", Access: Operator,
			Summary: "Move a tenant to another plan", operator: s.setTenantPlan},
		{Method: "PATCH", Pattern: "/v1/admin/tenants/{id}/limits", Access: Operator,
			Summary: "Override a tenant's limits (JSON merge patch)", operator: s.patchTenantLimits},
		{Method: "PUT", Pattern: "/v1/admin/tenants/{id}/features/{name}", Access: Operator,
			Summary: "Override one of a tenant's features", operator: s.setTenantFeature},
		{Method: "DELETE", Pattern: "/v1/admin/tenants/{id}/features/{name}", Access: Operator,
			Summary: "Remove a feature's override (the plan's value applies)", operator: s.unsetTenantFeature},
		{Method: "POST", Pattern: "/v1/admin/tenants/{id}/suspend", Access: Operator,
			Summary: "Suspend a tenant: logins refused, every session ended", operator: s.suspendTenant},
		{Method: "POST", Pattern: "/v1/admin/tenants/{id}/resume", Access: Operator,
			Summary: "Resume a suspended tenant", operator: s.resumeTenant},
	}
}

// listTenants: GET /v1/admin/tenants?plan=&status=&region=&limit=&cursor=,
// by slug.
func (s *Server) listTenants(w http.ResponseWriter, r *http.Request, c *operatorCall) error {
	q, err := params(r)
	if err != nil {
		return err
	}
	f := tenantd.TenantFilter{Plan: q["plan"], Status: q["status"], Region: q["region"], Page: tenantd.Page{Cursor: q["cursor"]}}
	if v, ok := q["limit"]; ok {
		if f.Limit, err = tenantd.ParseLimit(v); err != nil {
			return err
		}
	}
	items, next, err := s.tenantAdmin.List(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pageOf(items, next))
	return nil
}

// operatorScope is the scope of an operator's call on the tenant its path
// names. A malformed id is simply not found.
func operatorScope(r *http.Request, c *operatorCall) (tenantd.Scope, error) {
	id, err := pathID(r, "id", "tenant")
	if err != nil {
		return tenantd.Scope{}, err
	}
	return tenantd.OperatorScope(id, c.operatorID.String(), c.req), nil
}

// getTenant: GET /v1/admin/tenants/{id}.
func (s *Server) getTenant(w http.ResponseWriter, r *http.Request, c *operatorCall) error {
	scope, err := operatorScope(r, c)
	if err != nil {
		return err
	}
	m, err := s.tenantAdmin.Get(r.Context(), scope)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

// changedTenant answers a change with the tenant as it now is, and makes
// this instance forget the tenant's cached principals and configuration at
// once (on the other instances, the next transaction of each of the
// tenant's sessions is refused by its session guard, and reloads them).
func (s *Server) changedTenant(w http.ResponseWriter, m *tenantd.ManagedTenant, err error) error {
	if err != nil {
		return err
	}
	s.principals.dropTenant(m.ID)
	writeJSON(w, http.StatusOK, m)
	return nil
}

// setTenantPlan: PUT /v1/admin/tenants/{id}/plan {"plan": "pro"}. A plan
// whose limits are below the tenant's usage keeps everything it has and
// refuses new creations (409 limit-exceeded).
func (s *Server) setTenantPlan(w http.ResponseWriter, r *http.Request, c *operatorCall) error {
	scope, err := operatorScope(r, c)
	if err != nil {
		return err
	}
	var in struct {
		Plan string `json:"plan"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	m, err := s.tenantAdmin.SetPlan(r.Context(), scope, in.Plan)
	return s.changedTenant(w, m, err)
}

// patchTenantLimits: PATCH /v1/admin/tenants/{id}/limits, a JSON merge
// patch of the limit overrides: {"max_users": 50} overrides the plan's,
// {"max_users": null} removes the override.
func (s *Server) patchTenantLimits(w http.ResponseWriter, r *http.Request, c *operatorCall) error {
	scope, err := operatorScope(r, c)
	if err != nil {
		return err
	}
	var in tenantd.LimitsPatch
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	changes, err := in.Changes()
	if err != nil {
		return err
	}
	m, err := s.tenantAdmin.PatchLimits(r.Context(), scope, changes)
	return s.changedTenant(w, m, err)
}

// featureName is the {name} of a feature route: 404 for a name that is no
// feature of today.
func featureName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if _, ok := (tenantd.Features{}).Value(name); !ok {
		return "", tenantd.Errorf(tenantd.ENOTFOUND, "No such feature; GET /v1/admin/tenants/{id} lists them.")
	}
	return name, nil
}

// setTenantFeature: PUT /v1/admin/tenants/{id}/features/{name}
// {"value": …}: true or false for custom_branding and a beta.<name>,
// {"rate", "period_seconds", "burst"} for api_rate_limit, {"audit_days",
// "send_days", "deleted_days"} for data_retention.
func (s *Server) setTenantFeature(w http.ResponseWriter, r *http.Request, c *operatorCall) error {
	scope, err := operatorScope(r, c)
	if err != nil {
		return err
	}
	name, err := featureName(r)
	if err != nil {
		return err
	}
	var in struct {
		Value json.RawMessage `json:"value"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if len(in.Value) == 0 {
		return tenantd.Invalid(tenantd.FieldError{Pointer: "/value", Detail: "is required (DELETE removes an override)"})
	}
	if err := tenantd.ValidateFeature(name, in.Value); err != nil {
		return tenantd.Invalid(tenantd.FieldError{Pointer: "/value", Detail: fieldDetail(err)})
	}
	m, err := s.tenantAdmin.SetFeature(r.Context(), scope, name, in.Value)
	return s.changedTenant(w, m, err)
}

// fieldDetail is the detail of the first invalid field of err.
func fieldDetail(err error) string {
	if e, ok := tenantd.AsError(err); ok && len(e.Fields) > 0 {
		return e.Fields[0].Detail
	}
	return tenantd.ErrorMessage(err)
}

// unsetTenantFeature: DELETE /v1/admin/tenants/{id}/features/{name}: the
// plan's value applies again.
func (s *Server) unsetTenantFeature(w http.ResponseWriter, r *http.Request, c *operatorCall) error {
	scope, err := operatorScope(r, c)
	if err != nil {
		return err
	}
	name, err := featureName(r)
	if err != nil {
		return err
	}
	m, err := s.tenantAdmin.SetFeature(r.Context(), scope, name, nil)
	return s.changedTenant(w, m, err)
}

// suspendTenant: POST /v1/admin/tenants/{id}/suspend. Logins are refused
// and every session ends at once, on every instance: the session guard of
// every transaction refuses a suspended tenant, and the sessions are
// revoked in the same transaction as the suspension.
func (s *Server) suspendTenant(w http.ResponseWriter, r *http.Request, c *operatorCall) error {
	return s.setTenantStatus(w, r, c, tenantd.TenantSuspended)
}

// resumeTenant: POST /v1/admin/tenants/{id}/resume. Its users log in again.
func (s *Server) resumeTenant(w http.ResponseWriter, r *http.Request, c *operatorCall) error {
	return s.setTenantStatus(w, r, c, tenantd.TenantActive)
}

func (s *Server) setTenantStatus(w http.ResponseWriter, r *http.Request, c *operatorCall, status string) error {
	scope, err := operatorScope(r, c)
	if err != nil {
		return err
	}
	m, err := s.tenantAdmin.SetStatus(r.Context(), scope, status)
	return s.changedTenant(w, m, err)
}
