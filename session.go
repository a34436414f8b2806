package tenantd

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// PrincipalState is what step 4 of the request flow needs to decide.
type PrincipalState struct {
	TenantFound  bool
	TenantStatus string
	UserFound    bool
	UserStatus   string
	SessionLive  bool
	Principal    *Principal
	// Config is the tenant's configuration, read with the principal: a
	// change to it bumps the session's access version too.
	Config *Configuration
}

// LoginUser is what login needs of a user.
type LoginUser struct {
	ID           uuid.UUID
	PasswordHash string
	Role         string
	Status       string
}

// RefreshResult is the outcome of presenting a refresh token.
type RefreshResult struct {
	UserID uuid.UUID
	// Reused is true when the token was valid once but has been rotated
	// away: the session is now revoked and the event flagged.
	Reused bool
	// Unknown is true when the session does not exist or the secret was
	// never one of its own (a guess): nothing was changed or recorded.
	Unknown bool
	OK      bool
}

// IdentityService is logins, sessions and the principal of a request: the
// request flow's steps 4 and the login and refresh endpoints. Calls named
// by tenant and request (not a Scope) run for a caller who has not proven
// who they are yet, on the pool's anonymous share.
type IdentityService interface {
	// LoadPrincipal reads whether the user belongs to the tenant, both are
	// active and the session is live, with the user's roles.
	LoadPrincipal(ctx context.Context, tenant, user, session uuid.UUID, req RequestInfo) (*PrincipalState, error)
	// UserForLogin finds a user by email in the tenant; nil when none.
	UserForLogin(ctx context.Context, tenant uuid.UUID, email string, req RequestInfo) (*LoginUser, error)
	CreateSession(ctx context.Context, tenant, user uuid.UUID, refreshHash []byte, expires time.Time, req RequestInfo) (uuid.UUID, error)
	// RotateRefresh replaces a session's refresh secret, or detects its
	// reuse (and revokes the session).
	RotateRefresh(ctx context.Context, tenant, session uuid.UUID, presented []byte, newHash []byte,
		matches func(stored []byte) bool, req RequestInfo) (RefreshResult, error)
	// RevokeSession ends a session at once (logout).
	RevokeSession(ctx context.Context, s Scope, session uuid.UUID, reason string) error
	// Me returns the caller and their tenant.
	Me(ctx context.Context, s Scope) (*User, *Tenant, error)
	// RecordSecurityEvent records something that belongs to no verified
	// tenant, for the platform's security view.
	RecordSecurityEvent(ctx context.Context, action, reason string, req RequestInfo) error
}
