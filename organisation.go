package tenantd

import (
	"context"

	"github.com/google/uuid"
)

// Usage is a tenant's use of its limits. A nil limit means the
// tenant has none.
type Usage struct {
	Workspaces, Users                            int
	WorkspacesLimit, UsersLimit, EmailSendsLimit *int
	// Period is the month email sends are counted in, YYYY-MM (UTC).
	Period string
}

// ReviewedUser is one user of the access review and every workspace they
// can reach.
type ReviewedUser struct {
	User       User
	Workspaces []ReachedWorkspace
}

// ReachedWorkspace is a workspace a user can reach, with the workspace role
// they act with (owners and admins act as managers) and why.
type ReachedWorkspace struct {
	ID   uuid.UUID
	Name string
	Role string
	Via  string // ViaMembership or ViaTenantRole
}

// Why a user reaches a workspace, in the access review.
const (
	ViaMembership = "membership"
	ViaTenantRole = "tenant_role"
)

// OrganisationService reports on a tenant as a whole, for its owners and
// admins: usage against limits, and who can reach which workspace (the
// access review, recorded as an event when read).
type OrganisationService interface {
	Usage(ctx context.Context, s Scope) (*Usage, error)
	AccessReview(ctx context.Context, s Scope, format string) ([]ReviewedUser, error)
}
