package postgres

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// The tenant's own organisation (SPEC §6, §8): users and invitations
// (org_users.go), workspaces and their members (org_workspaces.go), usage
// and the access review (org_review.go).
//
// Who may do what is decided twice. The handlers check the caller's roles
// first; the database checks again with the restrictive policies of
// migrations 00003 and 00004, which read the roles and reachable workspaces
// the door sets for the transaction. The functions here therefore never
// filter by the scope's workspaces themselves: a forgotten handler check
// meets the policies, not a silent second filter in Go.

// Page sizes of the organisation lists.
const (
	DefaultListPage = 50
	MaxListPage     = 500
)

// Page asks for one page of a keyset-paginated list.
type Page struct {
	// Limit is the page size: 0 means DefaultListPage.
	Limit int
	// Cursor is the next cursor of the previous page; "" for the first.
	Cursor string
}

// listKey is the position after a page: the (created_at, id) of its last
// row. It carries no tenant: every query names the caller's tenant, so a
// cursor from another tenant's listing only ever selects the caller's rows.
type listKey struct {
	At time.Time `json:"at"`
	ID uuid.UUID `json:"id"`
}

// parse checks a page request: EBADREQUEST naming the bad parameter.
func (p Page) parse() (limit int, after *listKey, err error) {
	limit = p.Limit
	if limit == 0 {
		limit = DefaultListPage
	}
	if limit < 1 || limit > MaxListPage {
		return 0, nil, tenantd.Errorf(tenantd.EBADREQUEST, `Parameter "limit" must be between 1 and %d.`, MaxListPage)
	}
	if p.Cursor == "" {
		return limit, nil, nil
	}
	bad := tenantd.Errorf(tenantd.EBADREQUEST, `Parameter "cursor" is not a cursor this API returned.`)
	if len(p.Cursor) > 200 {
		return 0, nil, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(p.Cursor)
	if err != nil {
		return 0, nil, bad
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	var k listKey
	if dec.Decode(&k) != nil || dec.More() || k.At.IsZero() || k.ID == uuid.Nil {
		return 0, nil, bad
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

// cursorAfter is the cursor of the page that follows the row (at, id).
func cursorAfter(at time.Time, id uuid.UUID) string {
	b, _ := json.Marshal(listKey{At: at, ID: id})
	return base64.RawURLEncoding.EncodeToString(b)
}

// MissingID is ENOTFOUND for an id the caller named: it says which kind of
// id (user, workspace) was not found, so the HTTP layer can check whether
// it belongs to another tenant.
type MissingID struct {
	Kind string
	ID   uuid.UUID
}

func (m *MissingID) Error() string { return fmt.Sprintf("postgres: %s %s not found", m.Kind, m.ID) }

// Unwrap makes a MissingID an ENOTFOUND application error.
func (m *MissingID) Unwrap() error { return tenantd.Errorf(tenantd.ENOTFOUND, "Not found.") }

func missing(kind string, id uuid.UUID) error { return &MissingID{Kind: kind, ID: id} }
