package http

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/auth"
)

// organisationRoutes are the users, workspaces and roles routes.
// Handlers: users.go, workspaces.go, members.go, usage.go. SQL:
// postgres/org*.go. Every write is audited by the database's row triggers
// in the write's own transaction; the handlers add no event for them.
func (s *Server) organisationRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/v1/users", Access: Tenant, Query: pageParams, Summary: "List the tenant's users", tenant: s.listUsers},
		{Method: "POST", Pattern: "/v1/users", Access: Tenant, Summary: "Add or invite a user", tenant: s.createUser},
		{Method: "GET", Pattern: "/v1/users/{id}", Access: Tenant, Summary: "One user", tenant: s.getUser},
		{Method: "PATCH", Pattern: "/v1/users/{id}", Access: Tenant, Summary: "Change a user's role or disable them", tenant: s.patchUser},
		{Method: "DELETE", Pattern: "/v1/users/{id}", Access: Tenant, Summary: "Deactivate a user", tenant: s.deleteUser},
		{Method: "POST", Pattern: "/v1/auth/accept-invite", Access: Public, Summary: "Accept an invitation", public: s.acceptInvite},

		{Method: "GET", Pattern: "/v1/workspaces", Access: Tenant, Query: pageParams, Summary: "List the workspaces the caller reaches", tenant: s.listWorkspaces},
		{Method: "POST", Pattern: "/v1/workspaces", Access: Tenant, Summary: "Create a workspace", tenant: s.createWorkspace},
		{Method: "GET", Pattern: "/v1/workspaces/{id}", Access: Tenant, Summary: "One workspace", tenant: s.getWorkspace},
		{Method: "PATCH", Pattern: "/v1/workspaces/{id}", Access: Tenant, Summary: "Rename or redescribe a workspace", tenant: s.patchWorkspace},
		{Method: "DELETE", Pattern: "/v1/workspaces/{id}", Access: Tenant, Summary: "Delete a workspace", tenant: s.deleteWorkspace},
		{Method: "GET", Pattern: "/v1/workspaces/{id}/members", Access: Tenant, Query: pageParams, Summary: "List a workspace's members", tenant: s.listMembers},
		{Method: "PUT", Pattern: "/v1/workspaces/{id}/members/{user_id}", Access: Tenant, Summary: "Give a user a workspace role", tenant: s.putMember},
		{Method: "DELETE", Pattern: "/v1/workspaces/{id}/members/{user_id}", Access: Tenant, Summary: "Remove a user from a workspace", tenant: s.deleteMember},

		{Method: "GET", Pattern: "/v1/tenant/usage", Access: Tenant, Summary: "The tenant's usage and limits", tenant: s.usage},
		{Method: "GET", Pattern: "/v1/access-review", Access: Tenant, Query: []string{"format"}, Summary: "Who can reach which workspace, and why", tenant: s.accessReview},
	}
}

// invitationTTL is how long an invitation can be accepted.
const invitationTTL = 7 * 24 * time.Hour

// errNotTenantAdmin answers a member on a route for owners and admins.
func errNotTenantAdmin() error {
	return tenantd.Errorf(tenantd.EFORBIDDEN, "Only the tenant's owners and admins may do this.")
}

func requireTenantAdmin(p *tenantd.Principal) error {
	if !p.IsTenantAdmin() {
		return errNotTenantAdmin()
	}
	return nil
}

// named turns the storage's "this id was not found" into the flow's
// notFound, which flags an id that belongs to another tenant.
func named(err error) error {
	var m *tenantd.MissingID
	if errors.As(err, &m) {
		return notFound(m.Kind, m.ID)
	}
	return err
}

// listUsers: GET /v1/users. Owners and admins.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := requireTenantAdmin(c.p); err != nil {
		return err
	}
	page, err := listPage(r)
	if err != nil {
		return err
	}
	items, next, err := s.users.List(r.Context(), c.scope, page)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pageOf(items, next))
	return nil
}

// createdUser is a new user and, for an invited one, the invitation token:
// shown this once, stored only as a hash.
type createdUser struct {
	tenantd.User
	Invitation *invitationOut `json:"invitation,omitempty"`
}

type invitationOut struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// createUser: POST /v1/users. Owners and admins; only an owner may add an
// owner. With a password the user is active at once; without one they are
// invited, and the answer carries the single-use invitation token that
// POST /v1/auth/accept-invite takes.
func (s *Server) createUser(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := requireTenantAdmin(c.p); err != nil {
		return err
	}
	var in tenantd.NewUser
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := in.Validate(auth.ValidatePassword); err != nil {
		return err
	}
	email := in.Email
	if in.Role == tenantd.RoleOwner && c.p.Role != tenantd.RoleOwner {
		return tenantd.Errorf(tenantd.EFORBIDDEN, "Only an owner may add an owner.")
	}
	out := createdUser{}
	if in.Password != nil {
		hash, err := auth.HashPassword(*in.Password)
		if err != nil {
			return err
		}
		u, err := s.users.Create(r.Context(), c.scope, email, in.Role, hash)
		if err != nil {
			return err
		}
		out.User = *u
	} else {
		secret := auth.NewSecret()
		inv := tenantd.Invitation{ID: uuid.New(), TokenHash: auth.HashSecret(secret),
			ExpiresAt: s.now().Add(invitationTTL).UTC().Truncate(time.Second)}
		u, err := s.users.Invite(r.Context(), c.scope, email, in.Role, inv)
		if err != nil {
			return err
		}
		out.User = *u
		out.Invitation = &invitationOut{Token: invitationToken(c.p.TenantID, inv.ID, secret), ExpiresAt: inv.ExpiresAt}
	}
	w.Header().Set("Location", "/v1/users/"+out.ID.String())
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// getUser: GET /v1/users/{id}. Owners and admins; a member only themselves.
func (s *Server) getUser(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id", "user")
	if err != nil {
		return err
	}
	u, err := s.users.Get(r.Context(), c.scope, id)
	if err != nil {
		return named(err)
	}
	if !c.p.IsTenantAdmin() && id != c.p.UserID {
		return errNotTenantAdmin()
	}
	setETag(w, u.UpdatedAt)
	writeJSON(w, http.StatusOK, u)
	return nil
}

// mayManageUser is who may change whom: owners anyone; admins admins and
// members, but they may neither change an owner nor make one.
func mayManageUser(p *tenantd.Principal, newRole *string) func(tenantd.User) error {
	return func(target tenantd.User) error {
		if p.Role == tenantd.RoleOwner {
			return nil
		}
		if !p.IsTenantAdmin() {
			return errNotTenantAdmin()
		}
		if target.Role == tenantd.RoleOwner || (newRole != nil && *newRole == tenantd.RoleOwner) {
			return tenantd.Errorf(tenantd.EFORBIDDEN, "Only an owner may change an owner or grant the owner role.")
		}
		return nil
	}
}

// memberAskingForUser answers a member who named a user on a route for
// owners and admins: 404 for an id that is not the tenant's (so that
// another tenant's id is flagged), 403 otherwise.
func (s *Server) memberAskingForUser(ctx context.Context, c *call, id uuid.UUID) error {
	if _, err := s.users.Get(ctx, c.scope, id); err != nil {
		return named(err)
	}
	return errNotTenantAdmin()
}

// patchUser: PATCH /v1/users/{id} {"role"?, "disabled"?}. Owners and admins
// (see mayManageUser). Disabling revokes the user's sessions at once; the
// last active owner can be neither demoted nor disabled (409).
func (s *Server) patchUser(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id", "user")
	if err != nil {
		return err
	}
	if !c.p.IsTenantAdmin() {
		return s.memberAskingForUser(r.Context(), c, id)
	}
	var in struct {
		Role     *string `json:"role"`
		Disabled *bool   `json:"disabled"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Role != nil && !tenantd.ValidTenantRole(*in.Role) {
		return tenantd.Invalid(tenantd.FieldError{Pointer: "/role", Detail: "must be one of owner, admin, member"})
	}
	versions, err := ifMatch(r)
	if err != nil {
		return err
	}
	u, sessions, err := s.users.Update(r.Context(), c.scope, id,
		tenantd.UserPatch{Role: in.Role, Disabled: in.Disabled, IfMatch: versions}, mayManageUser(c.p, in.Role))
	if err != nil {
		return named(err)
	}
	s.forget(sessions)
	setETag(w, u.UpdatedAt)
	writeJSON(w, http.StatusOK, u)
	return nil
}

// deleteUser: DELETE /v1/users/{id} deactivates the user: every session is
// revoked in the same transaction and dropped from this instance's cache,
// so their tokens are refused as soon as this returns; the audit history
// stays. Owners and admins (see mayManageUser); not the last owner (409).
func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id", "user")
	if err != nil {
		return err
	}
	if !c.p.IsTenantAdmin() {
		return s.memberAskingForUser(r.Context(), c, id)
	}
	sessions, err := s.users.Deactivate(r.Context(), c.scope, id, mayManageUser(c.p, nil))
	if err != nil {
		return named(err)
	}
	s.forget(sessions)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// forget drops sessions from this instance's principal cache; the other
// instances' next transaction of each is refused by its session guard, and
// they reload it.
func (s *Server) forget(sessions []uuid.UUID) {
	for _, id := range sessions {
		s.principals.drop(id)
	}
}

func invitationToken(tenant, invitation uuid.UUID, secret string) string {
	return scopedToken("inv1", tenant, invitation, secret)
}

func parseInvitationToken(tok string) (tenant, invitation uuid.UUID, secret string, ok bool) {
	return parseScopedToken("inv1", tok)
}

// acceptInvite: POST /v1/auth/accept-invite {"token","password"} sets the
// invited user's password and activates them, once. Every refusal is the
// same 401; the user then logs in with POST /v1/auth/login.
func (s *Server) acceptInvite(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	req := requestInfo(r)
	refused := tenantd.Errorf(tenantd.EUNAUTHORIZED, "The invitation is invalid, expired or already used.")
	tenant, invitation, secret, ok := parseInvitationToken(in.Token)
	if !ok {
		s.recordSecurityEvent(ctx, tenantd.ActionInvitationDenied, "malformed invitation token", req)
		return refused
	}
	if err := auth.ValidatePassword(in.Password); err != nil {
		return tenantd.Invalid(tenantd.FieldError{Pointer: "/password", Detail: err.Error()})
	}
	res, err := s.users.AcceptInvitation(ctx, tenant, invitation,
		func(stored []byte) bool { return auth.CheckSecret(secret, stored) },
		func() (string, error) { return auth.HashPassword(in.Password) }, req)
	if err != nil {
		return err
	}
	if !res.OK {
		if !res.Known {
			s.recordSecurityEvent(ctx, tenantd.ActionInvitationDenied, "unknown invitation", req)
		}
		return refused
	}
	type tenantOut struct {
		ID   uuid.UUID `json:"id"`
		Slug string    `json:"slug"`
		Name string    `json:"name"`
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"user":   res.User,
		"tenant": tenantOut{res.Tenant.ID, res.Tenant.Slug, res.Tenant.Name},
	})
	return nil
}

func (s *Server) recordSecurityEvent(ctx context.Context, action, reason string, req tenantd.RequestInfo) {
	s.recordSecurityRefusal(context.WithoutCancel(ctx), action, reason, req)
}
