package tenantd

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"
)

// Usage is a tenant's use of its limits. A nil limit means the
// tenant has none. After a downgrade a counter may be above its limit:
// what exists stays, and new creations are refused until it is below.
type Usage struct {
	Workspaces, Users                            int
	WorkspacesLimit, UsersLimit, EmailSendsLimit *int
	// Period is the month email sends are counted in, YYYY-MM (UTC).
	Period string
}

// MarshalJSON writes the usage document of GET /v1/tenant/usage: each
// counter with its limit (null: none). Email sends stay 0 until sending
// exists.
func (u Usage) MarshalJSON() ([]byte, error) {
	type counter struct {
		Used  int  `json:"used"`
		Limit *int `json:"limit"`
	}
	type monthly struct {
		counter
		Period string `json:"period"`
	}
	return json.Marshal(struct {
		Workspaces counter `json:"workspaces"`
		Users      counter `json:"users"`
		EmailSends monthly `json:"email_sends"`
	}{counter{u.Workspaces, u.WorkspacesLimit}, counter{u.Users, u.UsersLimit}, monthly{counter{0, u.EmailSendsLimit}, u.Period}})
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
