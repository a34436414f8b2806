package postgres

import (
	"slices"
	"time"

	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
)

// Workspaces and their members. A deleted workspace keeps its row
// (deleted_at) and is invisible here. Every write is audited by the
// database (workspace.created/updated/deleted, workspace_member.created/
// updated/deleted, with the changed fields) and workspaces are counted
// toward max_workspaces by a trigger that refuses to pass the limit
// (TDLIM → ELIMIT). The policies of migration 00020 let a
// member read only the workspaces the door lists for them, let only owners
// and admins create, rename or delete workspaces, and only managers (and
// owners and admins) change members.

const workspaceColumns = `id, name, description, created_at, updated_at`

func scanWorkspace(row pgx.Row) (tenantd.Workspace, error) {
	var w tenantd.Workspace
	err := row.Scan(&w.ID, &w.Name, &w.Description, &w.CreatedAt, &w.UpdatedAt)
	w.CreatedAt, w.UpdatedAt = w.CreatedAt.UTC(), w.UpdatedAt.UTC()
	return w, err
}

const listWorkspacesSQL = `
SELECT ` + workspaceColumns + `
  FROM workspaces
 WHERE tenant_id = $1 AND deleted_at IS NULL
   AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid))
   AND ($5::uuid[] IS NULL OR id = ANY ($5::uuid[]))
 ORDER BY created_at, id
 LIMIT $4`

// ListWorkspaces returns one page of the tenant's live workspaces, oldest
// first, and the cursor of the next page ("" after the last). only, when
// not nil, restricts the list to those ids: the handler passes a member's
// workspaces; the database's policy restricts a member the same way on its
// own. EBADREQUEST for a bad page.
func (store *Workspaces) List(ctx context.Context, s tenantd.Scope, p tenantd.Page, only []uuid.UUID) (items []tenantd.Workspace, next string, err error) {
	limit, after, err := parsePage(p)
	if err != nil {
		return nil, "", err
	}
	var ids []string // NULL: no filter; empty: no workspace at all
	if only != nil {
		ids = make([]string, 0, len(only))
		for _, id := range only {
			ids = append(ids, id.String())
		}
	}
	return listPage(ctx, store.db, s, listWorkspacesSQL, append(append([]any{s.TenantID}, after.args()...), limit+1, ids), limit,
		scanWorkspace, func(w tenantd.Workspace) (time.Time, uuid.UUID) { return w.CreatedAt, w.ID })
}

// GetWorkspace returns one live workspace the caller reaches. MissingID
// when there is none (or the policy hides it).
func (store *Workspaces) Get(ctx context.Context, s tenantd.Scope, id uuid.UUID) (*tenantd.Workspace, error) {
	return store.db.oneWorkspace(ctx, s, missing("workspace", id), Statement{
		SQL:  `SELECT ` + workspaceColumns + ` FROM workspaces WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL`,
		Args: []any{s.TenantID, id},
	})
}

// CreateWorkspace adds a workspace. ECONFLICT when a live workspace of the
// tenant has the same name (case-insensitively), ELIMIT at max_workspaces.
// For owners and admins.
func (store *Workspaces) Create(ctx context.Context, s tenantd.Scope, name, description string) (*tenantd.Workspace, error) {
	return store.db.oneWorkspace(ctx, s, errors.New("postgres: insert returned no row"), Statement{
		SQL: `INSERT INTO workspaces (tenant_id, name, description) VALUES ($1, $2, $3)
		      RETURNING ` + workspaceColumns,
		Args: []any{s.TenantID, name, description},
	})
}

// updateWorkspaceSQL changes a live workspace under its row lock if its
// version is one the caller named ($5, NULL: any), and returns the row
// (changed or not) with the version it had before.
const updateWorkspaceSQL = `
WITH cur AS (
    SELECT id, updated_at FROM workspaces WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL FOR UPDATE
), upd AS (
    UPDATE workspaces w SET name = coalesce($3, w.name), description = coalesce($4, w.description), updated_at = now()
      FROM cur
     WHERE w.tenant_id = $1 AND w.id = cur.id
       AND ($5::timestamptz[] IS NULL OR cur.updated_at = ANY ($5::timestamptz[]))
       AND (w.name, w.description) IS DISTINCT FROM (coalesce($3, w.name), coalesce($4, w.description))
    RETURNING w.id, w.name, w.description, w.created_at, w.updated_at
)
SELECT (SELECT updated_at FROM cur), * FROM upd
UNION ALL
SELECT (SELECT updated_at FROM cur), ` + workspaceColumns + ` FROM workspaces
 WHERE tenant_id = $1 AND id = (SELECT id FROM cur) AND NOT EXISTS (SELECT 1 FROM upd)`

// UpdateWorkspace renames or redescribes a live workspace. A patch that
// changes nothing writes nothing. MissingID when there is no such
// workspace, ECONFLICT for a taken name, EPRECONDITION when p.IfMatch does
// not name its current version. For owners and admins.
func (store *Workspaces) Update(ctx context.Context, s tenantd.Scope, id uuid.UUID, p tenantd.WorkspacePatch) (*tenantd.Workspace, error) {
	var (
		w    *tenantd.Workspace
		prev time.Time
	)
	err := store.db.Run(ctx, s, Statement{
		SQL:  updateWorkspaceSQL,
		Args: []any{s.TenantID, id, p.Name, p.Description, p.IfMatch},
		Scan: func(rows pgx.Rows) error {
			if !rows.Next() {
				return rows.Err()
			}
			var v tenantd.Workspace
			err := rows.Scan(&prev, &v.ID, &v.Name, &v.Description, &v.CreatedAt, &v.UpdatedAt)
			v.CreatedAt, v.UpdatedAt = v.CreatedAt.UTC(), v.UpdatedAt.UTC()
			w = &v
			return err
		},
	})
	switch {
	case err != nil:
		return nil, err
	case w == nil:
		return nil, missing("workspace", id)
	case p.IfMatch != nil && !slices.ContainsFunc(p.IfMatch, prev.Equal):
		return nil, &tenantd.Error{Code: tenantd.EPRECONDITION,
			Message: "The workspace has changed since the version named in If-Match; read it again."}
	}
	return w, nil
}

// DeleteWorkspace soft-deletes a live workspace: it no longer counts toward
// max_workspaces and is invisible from then on. MissingID when there is no
// such workspace. For owners and admins.
func (store *Workspaces) Delete(ctx context.Context, s tenantd.Scope, id uuid.UUID) error {
	_, err := store.db.oneWorkspace(ctx, s, missing("workspace", id), Statement{
		SQL: `UPDATE workspaces SET deleted_at = now(), updated_at = now()
		      WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING ` + workspaceColumns,
		Args: []any{s.TenantID, id},
	})
	return err
}

// oneWorkspace runs a statement that returns at most one workspace, and
// none as the error: MissingID for a lookup or change of an id (the nil
// UUID included), an internal error for an insert.
func (db *DB) oneWorkspace(ctx context.Context, s tenantd.Scope, none error, st Statement) (*tenantd.Workspace, error) {
	var w *tenantd.Workspace
	st.Scan = func(rows pgx.Rows) error {
		if !rows.Next() {
			return rows.Err()
		}
		v, err := scanWorkspace(rows)
		w = &v
		return err
	}
	if err := db.Run(ctx, s, st); err != nil {
		return nil, err
	}
	if w == nil {
		return nil, none
	}
	return w, nil
}

// liveWorkspace checks, inside a transaction, that a workspace exists, is
// not deleted and is visible to the caller: MissingID otherwise.
func liveWorkspace(ctx context.Context, tx *Tx, id uuid.UUID) error {
	var found bool
	err := tx.QueryRow(ctx, `SELECT true FROM workspaces WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL`,
		tx.TenantID(), id).Scan(&found)
	if errors.Is(err, pgx.ErrNoRows) {
		return missing("workspace", id)
	}
	return err
}

const listMembersSQL = `
SELECT m.workspace_id, m.user_id, u.email, m.role, m.created_at
  FROM workspace_members m
  JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
 WHERE m.tenant_id = $1 AND m.workspace_id = $4 AND u.status <> 'deactivated'
   AND ($2::timestamptz IS NULL OR (m.created_at, m.user_id) > ($2, $3::uuid))
 ORDER BY m.created_at, m.user_id
 LIMIT $5`

// ListMembers returns one page of a live workspace's members (deactivated
// users left out), oldest membership first. MissingID when the caller
// cannot reach the workspace. EBADREQUEST for a bad page.
func (store *Workspaces) ListMembers(ctx context.Context, s tenantd.Scope, workspace uuid.UUID, p tenantd.Page) (items []tenantd.Member, next string, err error) {
	limit, after, err := parsePage(p)
	if err != nil {
		return nil, "", err
	}
	err = store.db.InTenant(ctx, s, func(tx *Tx) error {
		if err := liveWorkspace(ctx, tx, workspace); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, listMembersSQL, append(append([]any{s.TenantID}, after.args()...), workspace, limit+1)...)
		if err != nil {
			return err
		}
		items, err = pgx.CollectRows(rows, scanMember)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	items, next = trimPage(items, limit, func(last tenantd.Member) any { return listKey{At: last.CreatedAt, ID: last.UserID} })
	return items, next, nil
}

func scanMember(row pgx.CollectableRow) (tenantd.Member, error) {
	var m tenantd.Member
	err := row.Scan(&m.WorkspaceID, &m.UserID, &m.Email, &m.Role, &m.CreatedAt)
	m.CreatedAt = m.CreatedAt.UTC()
	return m, err
}

// PutMember gives a user a role in a live workspace, adding the membership
// or changing its role; created reports which. MissingID when the caller
// cannot reach the workspace or the user is not the tenant's; ECONFLICT
// for a deactivated user. For owners, admins and the workspace's managers;
// the database refuses anyone else (EFORBIDDEN).
func (store *Workspaces) PutMember(ctx context.Context, s tenantd.Scope, workspace, user uuid.UUID, role string) (m *tenantd.Member, created bool, err error) {
	err = store.db.InTenant(ctx, s, func(tx *Tx) error {
		if err := liveWorkspace(ctx, tx, workspace); err != nil {
			return err
		}
		var email, status string
		err := tx.QueryRow(ctx, `SELECT email, status FROM users WHERE tenant_id = $1 AND id = $2`, s.TenantID, user).
			Scan(&email, &status)
		if errors.Is(err, pgx.ErrNoRows) {
			return missing("user", user)
		} else if err != nil {
			return err
		}
		if status == tenantd.UserDeactivated {
			return tenantd.Errorf(tenantd.ECONFLICT, "A deactivated user cannot be given a workspace role.")
		}
		// The upsert writes (and audits) only a new membership or a new
		// role; the second query reads an unchanged one.
		rows, err := tx.Query(ctx, `
INSERT INTO workspace_members AS m (tenant_id, workspace_id, user_id, role) VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id, workspace_id, user_id) DO UPDATE SET role = excluded.role, updated_at = now()
 WHERE m.role IS DISTINCT FROM excluded.role
RETURNING m.workspace_id, m.user_id, $5::text, m.role, m.created_at, m.xmax = 0`,
			s.TenantID, workspace, user, role, email)
		if err != nil {
			return err
		}
		var got []tenantd.Member
		got, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (tenantd.Member, error) {
			var v tenantd.Member
			err := row.Scan(&v.WorkspaceID, &v.UserID, &v.Email, &v.Role, &v.CreatedAt, &created)
			return v, err
		})
		if err != nil {
			return err
		}
		if len(got) == 0 {
			rows, err := tx.Query(ctx, `
SELECT m.workspace_id, m.user_id, $4::text, m.role, m.created_at FROM workspace_members m
 WHERE m.tenant_id = $1 AND m.workspace_id = $2 AND m.user_id = $3`, s.TenantID, workspace, user, email)
			if err != nil {
				return err
			}
			if got, err = pgx.CollectRows(rows, scanMember); err != nil {
				return err
			}
			if len(got) == 0 {
				return errors.New("postgres: membership vanished")
			}
		}
		got[0].CreatedAt = got[0].CreatedAt.UTC()
		m = &got[0]
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return m, created, nil
}

// DeleteMember removes a user from a live workspace. MissingID when the
// caller cannot reach the workspace or the user is not a member of it. For
// owners, admins and the workspace's managers; the database deletes
// nothing for anyone else.
func (store *Workspaces) DeleteMember(ctx context.Context, s tenantd.Scope, workspace, user uuid.UUID) error {
	return store.db.InTenant(ctx, s, func(tx *Tx) error {
		if err := liveWorkspace(ctx, tx, workspace); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM workspace_members WHERE tenant_id = $1 AND workspace_id = $2 AND user_id = $3`,
			s.TenantID, workspace, user)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return missing("user", user)
		}
		return nil
	})
}
