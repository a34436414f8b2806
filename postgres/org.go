package postgres

import (
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// The tenant's own organisation: users and invitations
// (org_users.go), workspaces and their members (org_workspaces.go), usage
// and the access review (org_review.go).
//
// Who may do what is decided twice. The handlers check the caller's roles
// first; the database checks again with the policies of migration 00020
// (one permissive policy per table and command, holding every condition),
// which read the roles and reachable workspaces the door sets for the
// transaction. The functions here therefore never
// filter by the scope's workspaces themselves: a forgotten handler check
// meets the policies, not a silent second filter in Go.

// listKey is the position after a page: the (created_at, id) of its last
// row. It carries no tenant: every query names the caller's tenant, so a
// cursor from another tenant's listing only ever selects the caller's rows.
type listKey struct {
	At time.Time `json:"at"`
	ID uuid.UUID `json:"id"`
}

// parse checks a page request: EBADREQUEST naming the bad parameter.
func parsePage(p tenantd.Page) (limit int, after *listKey, err error) {
	if limit, err = tenantd.PageSize(p.Limit); err != nil || p.Cursor == "" {
		return limit, nil, err
	}
	var k listKey
	if decodeCursor(p.Cursor, &k) != nil || k.At.IsZero() || k.ID == uuid.Nil {
		return 0, nil, badCursor()
	}
	return limit, &k, nil
}

// args are the keyset parameters of a list query: after-time, after-id.
func (k *listKey) args() []any {
	if k == nil {
		return []any{nil, nil}
	}
	return []any{k.At, k.ID}
}

func missing(kind string, id uuid.UUID) error { return &tenantd.MissingID{Kind: kind, ID: id} }
