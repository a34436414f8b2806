// Package tenantd holds the domain of the multi-tenant core: the types every
// other package speaks (tenants, users, workspaces, audit events, the
// principal of a request) and the one error vocabulary that the HTTP layer
// maps to RFC 9457 problem details in a single place.
//
// Implementations live in packages named after what they depend on:
// postgres (all SQL, migrations and Row-Level Security), auth (tokens, keys,
// passwords), ratelimit (Redis), http (routing, middleware, handlers).
// cmd/tenantd wires them.
package tenantd

import (
	"errors"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Tenant roles. RoleSystem is never a user's role: it is the role
// the server itself acts with for provisioning and login bookkeeping.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
	RoleSystem = "system"
)

// Workspace roles.
const (
	WorkspaceManager = "manager"
	WorkspaceEditor  = "editor"
	WorkspaceViewer  = "viewer"
)

// ValidTenantRole reports whether r is a role a user may hold.
func ValidTenantRole(r string) bool {
	return r == RoleOwner || r == RoleAdmin || r == RoleMember
}

// ValidWorkspaceRole reports whether r is a workspace role.
func ValidWorkspaceRole(r string) bool {
	return r == WorkspaceManager || r == WorkspaceEditor || r == WorkspaceViewer
}

// Tenant is a customer company. Tenants are data, never code or schema.
type Tenant struct {
	ID        uuid.UUID `json:"id"`
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	Plan      string    `json:"plan"`
	Region    string    `json:"region"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

// Tenant statuses.
const (
	TenantActive    = "active"
	TenantSuspended = "suspended"
)

// Actor is who did something.
type Actor struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

// RequestInfo is what an audit event records about the request that caused
// it. IP is the client address after trusted-proxy handling.
type RequestInfo struct {
	ID        string
	IP        string
	UserAgent string
}

// Principal is the verified caller of a tenant request: built only by the
// authentication middleware from a verified token and a live session.
type Principal struct {
	TenantID   uuid.UUID
	TenantSlug string
	UserID     uuid.UUID
	SessionID  uuid.UUID
	Role       string
	// Workspaces maps each workspace a member belongs to onto their
	// workspace role. Owners and admins reach every workspace regardless.
	Workspaces map[uuid.UUID]string
	// AccessVersion is the session's access version when the principal was
	// read: the database bumps it whenever the user's role or status, their
	// memberships, the tenant's status or its configuration change, and every transaction of
	// the session checks it (Scope.AccessVersion).
	AccessVersion int64
}

// RateLimit is a per-tenant request rate and burst.
type RateLimit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// IsTenantAdmin reports whether the principal manages the whole tenant.
func (p *Principal) IsTenantAdmin() bool {
	return p.Role == RoleOwner || p.Role == RoleAdmin
}

var slugPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidSlug reports whether s is a valid tenant slug: a lowercase DNS label.
func ValidSlug(s string) bool { return slugPattern.MatchString(s) }

// NewTenant is what provisioning needs.
type NewTenant struct {
	Slug              string
	Name              string
	Plan              string
	Region            string
	OwnerEmail        string
	OwnerPasswordHash string
}

// Validate checks a NewTenant before anything is stored.
func (n *NewTenant) Validate() error {
	var fields []FieldError
	if !ValidSlug(n.Slug) {
		fields = append(fields, FieldError{"/slug", "must be a lowercase DNS label (a-z, 0-9, '-', at most 63 characters)"})
	}
	if l := len(strings.TrimSpace(n.Name)); l == 0 || l > 200 {
		fields = append(fields, FieldError{"/name", "must be 1 to 200 characters"})
	}
	if _, ok := PlanNamed(n.Plan); !ok {
		fields = append(fields, FieldError{"/plan", "must be one of " + strings.Join(PlanNames(), ", ")})
	}
	if _, err := NormalizeEmail(n.OwnerEmail); err != nil {
		fields = append(fields, FieldError{"/owner_email", err.Error()})
	}
	if len(fields) > 0 {
		return &Error{Code: EINVALID, Message: "The tenant is invalid.", Fields: fields}
	}
	return nil
}

// NormalizeEmail validates an RFC 5322 address (without a display name) and
// lowercases it: the same address in any case is one account per tenant.
func NormalizeEmail(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != strings.TrimSpace(s) || len(a.Address) > 254 {
		return "", errors.New("must be a valid email address")
	}
	return strings.ToLower(a.Address), nil
}
