package http

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// Workspaces. Owners and admins reach every workspace and alone
// create, rename and delete them. A member reaches only the workspaces they
// belong to; any other answers 404, exactly like an id that does not exist.
// The database enforces the same with its own policies (postgres/org.go).

// workspaceRole is the caller's role in a workspace: owners and admins act
// as managers everywhere; a member has their membership's role, or "" when
// they do not belong to it.
func workspaceRole(p *tenantd.Principal, ws uuid.UUID) string {
	if p.IsTenantAdmin() {
		return tenantd.WorkspaceManager
	}
	return p.Workspaces[ws]
}

// reachWorkspace returns the caller's role in the workspace named by the
// path parameter "id", or 404 when they cannot reach it.
func reachWorkspace(r *http.Request, p *tenantd.Principal) (uuid.UUID, string, error) {
	id, err := pathID(r, "id", "workspace")
	if err != nil {
		return uuid.Nil, "", err
	}
	role := workspaceRole(p, id)
	if role == "" {
		return uuid.Nil, "", notFound("workspace", id)
	}
	return id, role, nil
}

func errWorkspaceAdmin() error {
	return tenantd.Errorf(tenantd.EFORBIDDEN, "Only the tenant's owners and admins may create, rename or delete workspaces.")
}

// reachable is the filter of a workspace list: nil (no filter) for owners
// and admins, else the member's workspaces (possibly none).
func reachable(p *tenantd.Principal) []uuid.UUID {
	if p.IsTenantAdmin() {
		return nil
	}
	ids := make([]uuid.UUID, 0, len(p.Workspaces))
	for id := range p.Workspaces {
		ids = append(ids, id)
	}
	return ids
}

// listWorkspaces: GET /v1/workspaces. Everyone; a member sees only their
// workspaces.
func (s *Server) listWorkspaces(w http.ResponseWriter, r *http.Request, c *call) error {
	page, err := listPage(r)
	if err != nil {
		return err
	}
	items, next, err := s.workspaces.List(r.Context(), c.scope, page, reachable(c.p))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pageOf(items, next))
	return nil
}

// createWorkspace: POST /v1/workspaces {"name","description"?}. Owners and
// admins; 409 limit-exceeded at max_workspaces, 409 conflict for a name
// already in use.
func (s *Server) createWorkspace(w http.ResponseWriter, r *http.Request, c *call) error {
	if !c.p.IsTenantAdmin() {
		return errWorkspaceAdmin()
	}
	var in tenantd.WorkspaceInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := in.Validate(true); err != nil {
		return err
	}
	desc := ""
	if in.Description != nil {
		desc = *in.Description
	}
	ws, err := s.workspaces.Create(r.Context(), c.scope, *in.Name, desc)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/workspaces/"+ws.ID.String())
	writeJSON(w, http.StatusCreated, ws)
	return nil
}

// getWorkspace: GET /v1/workspaces/{id}. Anyone who reaches it.
func (s *Server) getWorkspace(w http.ResponseWriter, r *http.Request, c *call) error {
	id, _, err := reachWorkspace(r, c.p)
	if err != nil {
		return err
	}
	ws, err := s.workspaces.Get(r.Context(), c.scope, id)
	if err != nil {
		return named(err)
	}
	setETag(w, ws.UpdatedAt)
	writeJSON(w, http.StatusOK, ws)
	return nil
}

// patchWorkspace: PATCH /v1/workspaces/{id} {"name"?, "description"?}.
// Owners and admins.
func (s *Server) patchWorkspace(w http.ResponseWriter, r *http.Request, c *call) error {
	id, _, err := reachWorkspace(r, c.p)
	if err != nil {
		return err
	}
	if !c.p.IsTenantAdmin() {
		return errWorkspaceAdmin()
	}
	var in tenantd.WorkspaceInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := in.Validate(false); err != nil {
		return err
	}
	versions, err := ifMatch(r)
	if err != nil {
		return err
	}
	ws, err := s.workspaces.Update(r.Context(), c.scope, id,
		tenantd.WorkspacePatch{Name: in.Name, Description: in.Description, IfMatch: versions})
	if err != nil {
		return named(err)
	}
	setETag(w, ws.UpdatedAt)
	writeJSON(w, http.StatusOK, ws)
	return nil
}

// deleteWorkspace: DELETE /v1/workspaces/{id} soft-deletes it: it stops
// counting toward max_workspaces. Owners and admins.
func (s *Server) deleteWorkspace(w http.ResponseWriter, r *http.Request, c *call) error {
	id, _, err := reachWorkspace(r, c.p)
	if err != nil {
		return err
	}
	if !c.p.IsTenantAdmin() {
		return errWorkspaceAdmin()
	}
	if err := s.workspaces.Delete(r.Context(), c.scope, id); err != nil {
		return named(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
