package postgres

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
)

// The counters are the exact ones the limit triggers keep (deleted
// workspaces and deactivated users do not count); the limits are the
// tenant's overrides, else its plan's.
const usageSQL = `
SELECT u.workspaces, app.tenant_limit($1, 'max_workspaces'),
       u.users, app.tenant_limit($1, 'max_users'),
       app.tenant_limit($1, 'email_sends_per_month'),
       to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM')
  FROM tenant_usage u
 WHERE u.tenant_id = $1`

// Usage reads the tenant's usage and limits: one round trip. For owners
// and admins (the handler checks).
func (store *Organisation) Usage(ctx context.Context, s tenantd.Scope) (*tenantd.Usage, error) {
	var u *tenantd.Usage
	err := store.db.Run(ctx, s, Statement{
		SQL:  usageSQL,
		Args: []any{s.TenantID},
		Scan: func(rows pgx.Rows) error {
			if !rows.Next() {
				return rows.Err()
			}
			u = &tenantd.Usage{}
			return rows.Scan(&u.Workspaces, &u.WorkspacesLimit, &u.Users, &u.UsersLimit, &u.EmailSendsLimit, &u.Period)
		},
	})
	if err == nil && u == nil {
		err = tenantd.Errorf(tenantd.ENOTFOUND, "Not found.")
	}
	return u, err
}

// Every user, with each live workspace they reach: owners and admins reach
// all of them through their tenant role, members those they belong to.
// Deactivated users reach nothing.
const accessReviewSQL = `
SELECT u.id, u.email, u.role, u.status, u.created_at, u.updated_at, r.id, r.name, r.role, r.via
  FROM users u
  LEFT JOIN LATERAL (
      SELECT w.id, w.name,
             CASE WHEN u.role IN ('owner', 'admin') THEN 'manager' ELSE m.role END AS role,
             CASE WHEN u.role IN ('owner', 'admin') THEN 'tenant_role' ELSE 'membership' END AS via
        FROM workspaces w
        LEFT JOIN workspace_members m
               ON m.tenant_id = w.tenant_id AND m.workspace_id = w.id AND m.user_id = u.id
       WHERE w.tenant_id = u.tenant_id AND w.deleted_at IS NULL
         AND (u.role IN ('owner', 'admin') OR m.user_id IS NOT NULL)
  ) r ON u.status <> 'deactivated'
 WHERE u.tenant_id = $1
 ORDER BY u.email, r.name, r.id`

// AccessReview reports who can reach which workspace, and why, for the
// periodic access review. The report is recorded as an
// access_review.exported event (with format, the number of users and of
// grants) in the same transaction. For owners and admins (the handler
// checks).
func (store *Organisation) AccessReview(ctx context.Context, s tenantd.Scope, format string) ([]tenantd.ReviewedUser, error) {
	var out []tenantd.ReviewedUser
	err := store.db.InTenant(ctx, s, func(tx *Tx) error {
		rows, err := tx.Query(ctx, accessReviewSQL, s.TenantID)
		if err != nil {
			return err
		}
		defer rows.Close()
		grants := 0
		for rows.Next() {
			var u tenantd.User
			var wsID *uuid.UUID
			var name, role, via *string
			if err := rows.Scan(&u.ID, &u.Email, &u.Role, &u.Status, &u.CreatedAt, &u.UpdatedAt,
				&wsID, &name, &role, &via); err != nil {
				return err
			}
			if len(out) == 0 || out[len(out)-1].User.ID != u.ID {
				u.TenantID, u.CreatedAt, u.UpdatedAt = s.TenantID, u.CreatedAt.UTC(), u.UpdatedAt.UTC()
				out = append(out, tenantd.ReviewedUser{User: u, Workspaces: []tenantd.ReachedWorkspace{}})
			}
			if wsID != nil {
				last := &out[len(out)-1]
				last.Workspaces = append(last.Workspaces, tenantd.ReachedWorkspace{ID: *wsID, Name: *name, Role: *role, Via: *via})
				grants++
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		tx.Audit(tenantd.Event{Action: tenantd.ActionAccessReviewExported, TargetType: "tenant", TargetID: s.TenantID.String(),
			Changes: map[string]any{"format": format, "users": len(out), "grants": grants}})
		return nil
	})
	return out, err
}
