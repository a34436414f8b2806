package tenantd

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// User is an account inside exactly one tenant. The same email in two
// tenants is two unrelated users.
type User struct {
	ID        uuid.UUID `json:"id"`
	TenantID  uuid.UUID `json:"-"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// User statuses. Deactivated users keep their audit history and do not count
// toward max_users.
const (
	UserActive      = "active"
	UserInvited     = "invited"
	UserDisabled    = "disabled"
	UserDeactivated = "deactivated"
)

// Invitation is a pending invitation: only the hash of its secret is
// stored; the secret itself goes to the inviter once.
type Invitation struct {
	ID        uuid.UUID
	TokenHash []byte
	ExpiresAt time.Time
}

// UserPatch is a change to a user; nil fields stay as they are.
type UserPatch struct {
	Role     *string
	Disabled *bool
	// IfMatch, when set, lists the versions (updated_at) the change applies
	// to: another current version makes the update EPRECONDITION.
	IfMatch []time.Time
}

// InvitationResult is the outcome of presenting an invitation token.
type InvitationResult struct {
	// Known: the invitation exists; a refusal is then recorded in its
	// tenant's audit log.
	Known  bool
	OK     bool
	User   User
	Tenant Tenant
}

// NewUser is a user as an owner or admin adds one: with a password the user
// is active at once, without one they are invited.
type NewUser struct {
	Email    string  `json:"email"`
	Role     string  `json:"role"`
	Password *string `json:"password"`
}

// Validate normalises the email and checks every field: EINVALID listing
// each bad one. checkPassword is the password policy (package auth).
func (n *NewUser) Validate(checkPassword func(string) error) error {
	var fields []FieldError
	email, err := NormalizeEmail(n.Email)
	if err != nil {
		fields = append(fields, FieldError{Pointer: "/email", Detail: err.Error()})
	}
	n.Email = email
	if !ValidTenantRole(n.Role) {
		fields = append(fields, FieldError{Pointer: "/role", Detail: "must be one of owner, admin, member"})
	}
	if n.Password != nil {
		if err := checkPassword(*n.Password); err != nil {
			fields = append(fields, FieldError{Pointer: "/password", Detail: err.Error()})
		}
	}
	return Invalid(fields...)
}

// UserService is the tenant's users and invitations. Every method runs in
// the scope's tenant only (Row-Level Security). Who may call: owners and
// admins (the handler checks first; the database's policies check again);
// a member may Get only themselves. Errors: ENOTFOUND (a *MissingID) for an
// unknown id or another tenant's, ECONFLICT for a taken email or a change
// the last owner cannot take, ELIMIT at max_users, EPRECONDITION for a
// stale UserPatch.IfMatch.
type UserService interface {
	// List returns one page of the tenant's users, oldest first.
	List(ctx context.Context, s Scope, p Page) (items []User, next string, err error)
	Get(ctx context.Context, s Scope, id uuid.UUID) (*User, error)
	// Create adds an active user with a password hash.
	Create(ctx context.Context, s Scope, email, role, passwordHash string) (*User, error)
	// Invite adds an invited user and their invitation (only its hash).
	Invite(ctx context.Context, s Scope, email, role string, inv Invitation) (*User, error)
	// Update changes a role or disables or re-enables a user; authorize
	// sees the stored user under its row lock. It returns the sessions it
	// revoked.
	Update(ctx context.Context, s Scope, id uuid.UUID, p UserPatch, authorize func(User) error) (*User, []uuid.UUID, error)
	// Deactivate ends an account for good, revoking its sessions.
	Deactivate(ctx context.Context, s Scope, id uuid.UUID, authorize func(User) error) ([]uuid.UUID, error)
	// AcceptInvitation is called by anyone holding an invitation token:
	// matches checks the token against the stored hash, password is
	// called only once it has matched.
	AcceptInvitation(ctx context.Context, tenant, invitation uuid.UUID, matches func(stored []byte) bool,
		password func() (string, error), req RequestInfo) (InvitationResult, error)
}
