package tenantd

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Workspace groups a tenant's work by client, project or team.
type Workspace struct {
	ID          uuid.UUID `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Member is a user's role in one workspace.
type Member struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	UserID      uuid.UUID `json:"user_id"`
	Email       string    `json:"email"`
	Role        string    `json:"role"`
	CreatedAt   time.Time `json:"created_at"`
}

// WorkspacePatch is a change to a workspace; nil fields stay as they are.
// IfMatch, when set, lists the versions (updated_at) the change applies
// to: another current version makes the update EPRECONDITION.
type WorkspacePatch struct {
	Name        *string
	Description *string
	IfMatch     []time.Time
}

// WorkspaceInput is a workspace's fields as a client sends them, to create
// one (Name required) or to change one (nil fields stay as they are).
type WorkspaceInput struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

// Validate trims the name and checks both fields: EINVALID listing every bad
// field by JSON pointer.
func (in *WorkspaceInput) Validate(create bool) error {
	var fields []FieldError
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		in.Name = &name
	}
	switch {
	case in.Name == nil && create:
		fields = append(fields, FieldError{Pointer: "/name", Detail: "is required"})
	case in.Name == nil:
	case utf8.RuneCountInString(*in.Name) < 1 || utf8.RuneCountInString(*in.Name) > 200:
		fields = append(fields, FieldError{Pointer: "/name", Detail: "must be 1 to 200 characters"})
	case strings.IndexFunc(*in.Name, unicode.IsControl) >= 0:
		fields = append(fields, FieldError{Pointer: "/name", Detail: "must not contain control characters"})
	}
	if in.Description != nil && utf8.RuneCountInString(*in.Description) > 2000 {
		fields = append(fields, FieldError{Pointer: "/description", Detail: "must be at most 2000 characters"})
	}
	return Invalid(fields...)
}

// WorkspaceService is the tenant's workspaces and their members, in the
// scope's tenant only. Who may call: anyone for List, Get and ListMembers
// of the workspaces they reach (owners and admins reach all; members those
// they belong to); owners and admins to create, change and delete
// workspaces; workspace managers to change members. The database's
// policies enforce the same. Errors: ENOTFOUND (a *MissingID) for a
// workspace the caller cannot reach, ECONFLICT for a taken name, ELIMIT at
// max_workspaces, EPRECONDITION for a stale WorkspacePatch.IfMatch.
type WorkspaceService interface {
	// List returns one page, oldest first; only, when not nil, restricts
	// it to those workspaces (a member's).
	List(ctx context.Context, s Scope, p Page, only []uuid.UUID) (items []Workspace, next string, err error)
	Get(ctx context.Context, s Scope, id uuid.UUID) (*Workspace, error)
	Create(ctx context.Context, s Scope, name, description string) (*Workspace, error)
	Update(ctx context.Context, s Scope, id uuid.UUID, p WorkspacePatch) (*Workspace, error)
	// Delete soft-deletes: the workspace stops counting toward its limit.
	Delete(ctx context.Context, s Scope, id uuid.UUID) error
	ListMembers(ctx context.Context, s Scope, workspace uuid.UUID, p Page) (items []Member, next string, err error)
	// PutMember gives a user a workspace role; created tells a new
	// membership from a changed one.
	PutMember(ctx context.Context, s Scope, workspace, user uuid.UUID, role string) (m *Member, created bool, err error)
	DeleteMember(ctx context.Context, s Scope, workspace, user uuid.UUID) error
}
