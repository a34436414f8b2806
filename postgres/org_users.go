package postgres

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
)

// Users and invitations. Every write to users is audited by the database
// (user.created, user.updated, user.deactivated, with the changed fields;
// the password hash only as "changed") and counted toward max_users by a
// trigger that refuses to pass the limit (TDLIM → ELIMIT). The last active
// owner cannot be demoted, disabled or deactivated (TDOWN → ECONFLICT).
// Only owners, admins and the server itself may write users: the policies
// of migration 00020 refuse anyone else.

const userColumns = `id, email, role, status, created_at, updated_at`

func scanUser(row pgx.Row) (tenantd.User, error) {
	var u tenantd.User
	err := row.Scan(&u.ID, &u.Email, &u.Role, &u.Status, &u.CreatedAt, &u.UpdatedAt)
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, err
}

const listUsersSQL = `
SELECT ` + userColumns + `
  FROM users
 WHERE tenant_id = $1
   AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid))
 ORDER BY created_at, id
 LIMIT $4`

// ListUsers returns one page of the tenant's users, oldest first, deactivated
// ones included, and the cursor of the next page ("" after the last). For
// owners and admins (the handler checks). EBADREQUEST for a bad page.
func (store *Users) List(ctx context.Context, s tenantd.Scope, p tenantd.Page) (items []tenantd.User, next string, err error) {
	limit, after, err := parsePage(p)
	if err != nil {
		return nil, "", err
	}
	return listPage(ctx, store.db, s, listUsersSQL, append(append([]any{s.TenantID}, after.args()...), limit+1), limit,
		scanUser, func(u tenantd.User) (time.Time, uuid.UUID) { return u.CreatedAt, u.ID })
}

// GetUser returns one user of the tenant. MissingID when there is none.
func (store *Users) Get(ctx context.Context, s tenantd.Scope, id uuid.UUID) (*tenantd.User, error) {
	var u *tenantd.User
	err := store.db.Run(ctx, s, Statement{
		SQL:  `SELECT ` + userColumns + ` FROM users WHERE tenant_id = $1 AND id = $2`,
		Args: []any{s.TenantID, id},
		Scan: func(rows pgx.Rows) error {
			if !rows.Next() {
				return rows.Err()
			}
			v, err := scanUser(rows)
			u = &v
			return err
		},
	})
	if err == nil && u == nil {
		err = missing("user", id)
	}
	return u, err
}

// CreateUser adds an active user with a password. ECONFLICT when the email
// is taken in this tenant, ELIMIT at max_users. For owners and admins.
func (store *Users) Create(ctx context.Context, s tenantd.Scope, email, role, passwordHash string) (*tenantd.User, error) {
	var u tenantd.User
	err := store.db.Run(ctx, s, Statement{
		SQL: `INSERT INTO users (tenant_id, email, role, password_hash, status) VALUES ($1, $2, $3, $4, 'active')
		      RETURNING ` + userColumns,
		Args: []any{s.TenantID, email, role, passwordHash},
		Scan: func(rows pgx.Rows) error {
			if !rows.Next() {
				return insertedNothing(rows)
			}
			var err error
			u, err = scanUser(rows)
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	u.TenantID = s.TenantID
	return &u, nil
}

// insertedNothing is the error of an INSERT ... RETURNING without a row:
// the statement's own error (a policy, a limit), if any.
func insertedNothing(rows pgx.Rows) error {
	if err := rows.Err(); err != nil {
		return err
	}
	return errors.New("postgres: insert returned no row")
}

const inviteUserSQL = `
WITH u AS (
    INSERT INTO users (tenant_id, email, role, status) VALUES ($1, $2, $3, 'invited')
    RETURNING ` + userColumns + `
), i AS (
    INSERT INTO invitations (tenant_id, id, user_id, token_hash, expires_at)
    SELECT $1, $4, u.id, $5, $6 FROM u
    RETURNING user_id
)
SELECT u.id, u.email, u.role, u.status, u.created_at, u.updated_at FROM u JOIN i ON i.user_id = u.id`

// InviteUser adds an invited user (no password yet) and their invitation,
// in one round trip, with an invitation.created event. ECONFLICT when the
// email is taken in this tenant, ELIMIT at max_users. For owners and admins.
func (store *Users) Invite(ctx context.Context, s tenantd.Scope, email, role string, inv tenantd.Invitation) (*tenantd.User, error) {
	var u tenantd.User
	err := store.db.Run(ctx, s, Statement{
		SQL:  inviteUserSQL,
		Args: []any{s.TenantID, email, role, inv.ID, inv.TokenHash, inv.ExpiresAt},
		Scan: func(rows pgx.Rows) error {
			if !rows.Next() {
				return insertedNothing(rows)
			}
			var err error
			u, err = scanUser(rows)
			return err
		},
		Events: []tenantd.Event{{Action: tenantd.ActionInvitationCreated, TargetType: "invitation", TargetID: inv.ID.String(),
			Changes: map[string]any{"email": email, "role": role, "expires_at": inv.ExpiresAt.UTC().Format(time.RFC3339)}}},
	})
	if err != nil {
		return nil, err
	}
	u.TenantID = s.TenantID
	return &u, nil
}

// lockUser reads a user for update. The row lock makes the authorize
// decision and the write one atomic step. The tenant's active owners are
// locked first, in id order: the last-owner trigger locks them all too, so
// two owners changing each other at once queue up instead of deadlocking.
func lockUser(ctx context.Context, tx *Tx, id uuid.UUID) (tenantd.User, bool, error) {
	var u tenantd.User
	var hasPassword bool
	if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE tenant_id = $1 AND role = 'owner' AND status = 'active'
	                          ORDER BY id FOR UPDATE`, tx.TenantID()); err != nil {
		return u, false, err
	}
	err := tx.QueryRow(ctx, `SELECT `+userColumns+`, password_hash IS NOT NULL FROM users
	                         WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tx.TenantID(), id).
		Scan(&u.ID, &u.Email, &u.Role, &u.Status, &u.CreatedAt, &u.UpdatedAt, &hasPassword)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, false, missing("user", id)
	}
	u.TenantID = tx.TenantID()
	return u, hasPassword, err
}

// revokeSessions ends every live session of a user and returns their ids,
// so the caller can drop them from any cache at once.
func revokeSessions(ctx context.Context, tx *Tx, user uuid.UUID, reason string) ([]uuid.UUID, error) {
	rows, err := tx.Query(ctx, `UPDATE sessions SET revoked_at = now(), revoked_reason = $3
	                            WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING id`,
		tx.TenantID(), user, reason)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}

// UpdateUser changes a user's role or disables (re-enables) them. authorize
// sees the user as stored, under a row lock, and may refuse with an error.
// Disabling revokes every session of the user. It returns the user and the
// sessions whose principal changed (revoked or with a new role), for the
// caller to drop from its cache. MissingID when there is no such user,
// ECONFLICT for a deactivated user or the last owner. For owners and admins.
func (store *Users) Update(ctx context.Context, s tenantd.Scope, id uuid.UUID, p tenantd.UserPatch, authorize func(tenantd.User) error) (*tenantd.User, []uuid.UUID, error) {
	var out tenantd.User
	var sessions []uuid.UUID
	err := store.db.InTenant(ctx, s, func(tx *Tx) error {
		u, hasPassword, err := lockUser(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := authorize(u); err != nil {
			return err
		}
		if p.IfMatch != nil && !slices.ContainsFunc(p.IfMatch, u.UpdatedAt.Equal) {
			return &tenantd.Error{Code: tenantd.EPRECONDITION,
				Message: "The user has changed since the version named in If-Match; read it again."}
		}
		if u.Status == tenantd.UserDeactivated {
			return tenantd.Errorf(tenantd.ECONFLICT, "A deactivated user cannot be changed.")
		}
		role, status := u.Role, u.Status
		if p.Role != nil {
			role = *p.Role
		}
		switch {
		case p.Disabled == nil:
		case *p.Disabled:
			status = tenantd.UserDisabled
		case u.Status == tenantd.UserDisabled && hasPassword:
			status = tenantd.UserActive
		case u.Status == tenantd.UserDisabled:
			status = tenantd.UserInvited
		}
		out = u
		if role == u.Role && status == u.Status {
			return nil // nothing changes: no write, no event
		}
		out, err = scanUser(tx.QueryRow(ctx, `UPDATE users SET role = $3, status = $4, updated_at = now()
		                                      WHERE tenant_id = $1 AND id = $2 RETURNING `+userColumns,
			s.TenantID, id, role, status))
		if err != nil {
			return err
		}
		if status == tenantd.UserDisabled {
			sessions, err = revokeSessions(ctx, tx, id, "user disabled")
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id FROM sessions WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL`,
			s.TenantID, id)
		if err != nil {
			return err
		}
		sessions, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	out.TenantID = s.TenantID
	return &out, sessions, nil
}

// DeactivateUser deactivates a user and revokes all their sessions in the
// same transaction; their audit history stays. authorize sees the user as
// stored, under a row lock. It returns the revoked session ids. Deactivating
// a deactivated user changes nothing. MissingID when there is no such user,
// ECONFLICT for the last owner. For owners and admins.
func (store *Users) Deactivate(ctx context.Context, s tenantd.Scope, id uuid.UUID, authorize func(tenantd.User) error) ([]uuid.UUID, error) {
	var sessions []uuid.UUID
	err := store.db.InTenant(ctx, s, func(tx *Tx) error {
		u, _, err := lockUser(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := authorize(u); err != nil {
			return err
		}
		if u.Status == tenantd.UserDeactivated {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET status = 'deactivated', updated_at = now()
		                           WHERE tenant_id = $1 AND id = $2`, s.TenantID, id); err != nil {
			return err
		}
		sessions, err = revokeSessions(ctx, tx, id, "user deactivated")
		return err
	})
	return sessions, err
}

// AcceptInvitation sets the password of an invited user and activates them,
// once: the invitation must exist in the tenant, match (matches checks the
// stored hash, in constant time), be unexpired and unused, and its user
// still invited. password is called only once the secret has matched, so
// an unknown token never costs a password hash. A refused attempt on an
// existing invitation is recorded as invitation.denied; a successful
// one as invitation.accepted, next to the database's user.updated event,
// both with the invitee as actor. Nobody is logged in: the server acts for
// the invitee, with the token as their proof.
func (store *Users) AcceptInvitation(ctx context.Context, tenant, invitation uuid.UUID, matches func(stored []byte) bool, password func() (string, error), req tenantd.RequestInfo) (tenantd.InvitationResult, error) {
	var res tenantd.InvitationResult
	s := tenantd.AnonymousScope(tenant, req)
	var user uuid.UUID
	var stored []byte
	err := store.db.Run(ctx, s, Statement{
		SQL:  `SELECT user_id, token_hash FROM invitations WHERE tenant_id = $1 AND id = $2`,
		Args: []any{tenant, invitation},
		Scan: func(rows pgx.Rows) error {
			if rows.Next() {
				return rows.Scan(&user, &stored)
			}
			return rows.Err()
		},
	})
	if err != nil || user == uuid.Nil {
		return res, err
	}
	res.Known = true
	// The invitee is the actor of every event of the acceptance.
	s.Actor = tenantd.Actor{Type: tenantd.ActorUser, ID: user.String()}
	denied := func(reason string) tenantd.Event {
		return tenantd.Event{Action: tenantd.ActionInvitationDenied, Outcome: tenantd.OutcomeDenied,
			TargetType: "invitation", TargetID: invitation.String(), Changes: map[string]any{"reason": reason}}
	}
	if !matches(stored) {
		return res, store.db.Audit().Record(ctx, s, denied("wrong secret"))
	}
	hash, err := password()
	if err != nil {
		return res, err
	}
	err = store.db.InTenant(ctx, s, func(tx *Tx) error {
		var live, unused bool
		var status string
		err := tx.QueryRow(ctx, `
SELECT i.token_hash, i.expires_at > now(), i.accepted_at IS NULL, u.status
  FROM invitations i JOIN users u ON u.tenant_id = i.tenant_id AND u.id = i.user_id
 WHERE i.tenant_id = $1 AND i.id = $2 FOR UPDATE OF i, u`, tenant, invitation).Scan(&stored, &live, &unused, &status)
		if err != nil {
			return err
		}
		reason := ""
		switch {
		case !matches(stored):
			reason = "wrong secret"
		case !unused:
			reason = "already accepted"
		case !live:
			reason = "expired"
		case status != tenantd.UserInvited:
			reason = "user is " + status
		}
		if reason != "" {
			tx.Audit(denied(reason))
			return nil
		}
		res.User, err = scanUser(tx.QueryRow(ctx, `UPDATE users SET password_hash = $3, status = 'active', updated_at = now()
		                                           WHERE tenant_id = $1 AND id = $2 RETURNING `+userColumns,
			tenant, user, hash))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE invitations SET accepted_at = now() WHERE tenant_id = $1 AND id = $2`,
			tenant, invitation); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT id, slug, name FROM tenants WHERE id = $1`, tenant).
			Scan(&res.Tenant.ID, &res.Tenant.Slug, &res.Tenant.Name); err != nil {
			return err
		}
		tx.Audit(tenantd.Event{Action: tenantd.ActionInvitationAccepted, TargetType: "invitation", TargetID: invitation.String(),
			Changes: map[string]any{"user_id": user.String()}})
		res.OK = true
		return nil
	})
	res.User.TenantID = tenant
	return res, err
}
