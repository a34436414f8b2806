package tenantd

import (
	"errors"

	"github.com/google/uuid"
)

// Scope is everything the database needs to know about who is acting:
// the tenant (the only thing RLS isolates on), the user, their roles, and
// the request, for audit events.
type Scope struct {
	TenantID uuid.UUID
	UserID   uuid.UUID
	// Role is the tenant role (owner, admin, member) or system.
	Role string
	// Workspaces maps the workspaces a member belongs to onto their role.
	Workspaces map[uuid.UUID]string
	Actor      Actor
	Request    RequestInfo
	// SessionID, when set, makes every transaction of the scope check, in
	// its first round trip, that the session is live and that nothing the
	// scope was read with has changed since: the session's access version
	// is still AccessVersion (the session guard of postgres/door.go). A
	// stale scope fails with ErrStaleScope before any statement of the
	// caller has run.
	SessionID     uuid.UUID
	AccessVersion int64
	// Anonymous marks work done for a caller who has not proven who they
	// are (a login, a refresh, recording a refused request): it draws on the
	// pool's small anonymous share, never on the tenant's own.
	Anonymous bool
}

// ErrStaleScope means the scope no longer matches the database: the session
// was revoked, the user or tenant disabled, or the role or memberships
// changed. Nothing was done; reload the principal and decide again.
var ErrStaleScope = errors.New("tenantd: the caller's session, role or memberships changed")

// ScopeFor is the scope of an authenticated request.
func ScopeFor(p *Principal, r RequestInfo) Scope {
	return Scope{
		TenantID:      p.TenantID,
		UserID:        p.UserID,
		Role:          p.Role,
		Workspaces:    p.Workspaces,
		Actor:         Actor{Type: ActorUser, ID: p.UserID.String()},
		Request:       r,
		SessionID:     p.SessionID,
		AccessVersion: p.AccessVersion,
	}
}

// SystemScope is the scope of the server acting on its own in one tenant
// (provisioning, login bookkeeping, recording denied requests).
func SystemScope(tenantID uuid.UUID, r RequestInfo) Scope {
	return Scope{TenantID: tenantID, Role: RoleSystem,
		Actor: Actor{Type: ActorSystem}, Request: r}
}

// AnonymousScope is SystemScope for work done for an anonymous caller.
func AnonymousScope(tenantID uuid.UUID, r RequestInfo) Scope {
	s := SystemScope(tenantID, r)
	s.Anonymous = true
	return s
}
