package http

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// Workspace members: anyone who reaches a workspace sees its
// members; its managers (and the tenant's owners and admins) change them.
// Editors and viewers get 403; a member of another workspace 404.

func errNotManager() error {
	return tenantd.Errorf(tenantd.EFORBIDDEN, "Only the workspace's managers may change its members.")
}

// listMembers: GET /v1/workspaces/{id}/members.
func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, c *call) error {
	ws, _, err := reachWorkspace(r, c.p)
	if err != nil {
		return err
	}
	page, err := listPage(r)
	if err != nil {
		return err
	}
	items, next, err := s.workspaces.ListMembers(r.Context(), c.scope, ws, page)
	if err != nil {
		return named(err)
	}
	writeJSON(w, http.StatusOK, pageOf(items, next))
	return nil
}

// putMember: PUT /v1/workspaces/{id}/members/{user_id} {"role"}: 201 for a
// new membership, 200 for a changed (or unchanged) one.
func (s *Server) putMember(w http.ResponseWriter, r *http.Request, c *call) error {
	ws, user, err := managedMembership(r, c)
	if err != nil {
		return err
	}
	var in struct {
		Role string `json:"role"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if !tenantd.ValidWorkspaceRole(in.Role) {
		return tenantd.Invalid(tenantd.FieldError{Pointer: "/role", Detail: "must be one of manager, editor, viewer"})
	}
	m, created, err := s.workspaces.PutMember(r.Context(), c.scope, ws, user, in.Role)
	if err != nil {
		return named(err)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, m)
	return nil
}

// deleteMember: DELETE /v1/workspaces/{id}/members/{user_id}.
func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request, c *call) error {
	ws, user, err := managedMembership(r, c)
	if err != nil {
		return err
	}
	if err := s.workspaces.DeleteMember(r.Context(), c.scope, ws, user); err != nil {
		return named(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// managedMembership is the workspace and user of a membership route, once
// the caller is known to manage that workspace (a manager, owner or admin).
func managedMembership(r *http.Request, c *call) (ws, user uuid.UUID, err error) {
	ws, role, err := reachWorkspace(r, c.p)
	if err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	if role != tenantd.WorkspaceManager {
		return uuid.Nil, uuid.Nil, errNotManager()
	}
	user, err = pathID(r, "user_id", "user")
	return ws, user, err
}
