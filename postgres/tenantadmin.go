package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
)

// Operators' management of tenants. Listing is the one cross-tenant read
// (app.tenants_page, migration 00017); the rest runs in the tenant's own
// context through the door, and each change goes through a function of
// 00017 that refuses any caller but an operator's scope of that tenant.

const tenantsPageSQL = `SELECT ` + tenantColumns + ` FROM app.tenants_page($1, $2, $3, $4, $5)`

// tenantCursor is the slug of the last tenant of a page.
type tenantCursor struct {
	After string `json:"after"`
}

// List returns one page of tenants by slug and the next page's cursor.
func (store *TenantAdmin) List(ctx context.Context, f tenantd.TenantFilter) ([]tenantd.Tenant, string, error) {
	if err := f.Validate(); err != nil {
		return nil, "", err
	}
	limit, _ := tenantd.PageSize(f.Limit)
	var after any
	if f.Cursor != "" {
		var c tenantCursor
		if err := decodeCursor(f.Cursor, &c); err != nil || !tenantd.ValidSlug(c.After) {
			return nil, "", badCursor()
		}
		after = c.After
	}
	var out []tenantd.Tenant
	err := store.db.onPlatform(ctx, Statement{SQL: tenantsPageSQL,
		Args: []any{nullIfEmpty(f.Plan), nullIfEmpty(f.Status), nullIfEmpty(f.Region), after, limit + 1},
		Scan: func(rows pgx.Rows) error {
			for rows.Next() {
				t, err := scanTenant(rows)
				if err != nil {
					return err
				}
				out = append(out, *t)
			}
			return rows.Err()
		}})
	if err != nil {
		return nil, "", err
	}
	out, next := trimPage(out, limit, func(last tenantd.Tenant) any { return tenantCursor{After: last.Slug} })
	return out, next, nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// managedTenantSQL reads a tenant with its overrides and usage, in its own
// context; the limits are the ones the database enforces.
const managedTenantSQL = `
SELECT t.id, t.slug, t.name, t.plan, t.region, t.status, t.created_at, t.updated_at, t.limits, t.features,
       u.workspaces, app.tenant_limit($1, 'max_workspaces'), u.users, app.tenant_limit($1, 'max_users'),
       app.tenant_limit($1, 'email_sends_per_month'), to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM')
  FROM tenants t
  JOIN tenant_usage u ON u.tenant_id = t.id
 WHERE t.id = $1`

func scanManagedTenant(row pgx.Row) (*tenantd.ManagedTenant, error) {
	m := &tenantd.ManagedTenant{}
	u := &m.Usage
	err := row.Scan(&m.ID, &m.Slug, &m.Name, &m.Plan, &m.Region, &m.Status, &m.CreatedAt, &m.UpdatedAt,
		&m.Overrides.Limits, &m.Overrides.Features,
		&u.Workspaces, &u.WorkspacesLimit, &u.Users, &u.UsersLimit, &u.EmailSendsLimit, &u.Period)
	if err != nil {
		return nil, err
	}
	plan, ok := tenantd.PlanNamed(m.Plan)
	if !ok {
		return nil, fmt.Errorf("postgres: tenant %s is on plan %q, which the catalogue does not know", m.ID, m.Plan)
	}
	if m.Config, err = tenantd.Effective(plan, m.Overrides); err != nil {
		return nil, fmt.Errorf("postgres: tenant %s: its overrides: %w", m.ID, err)
	}
	return m, nil
}

// Get reads the scope's tenant: one round trip. ENOTFOUND when there is
// no such tenant.
func (store *TenantAdmin) Get(ctx context.Context, s tenantd.Scope) (*tenantd.ManagedTenant, error) {
	var m *tenantd.ManagedTenant
	err := store.db.Run(ctx, s, Statement{SQL: managedTenantSQL, Args: []any{s.TenantID},
		Scan: func(rows pgx.Rows) error {
			if !rows.Next() {
				return pgx.ErrNoRows
			}
			var err error
			m, err = scanManagedTenant(rows)
			return err
		}})
	return m, err
}

// change runs one of 00017's operator functions in the scope's tenant and
// reads the tenant back in the same transaction: two round trips and the
// COMMIT. For an unknown tenant the function changes nothing and the read
// finds nothing: ENOTFOUND.
func (store *TenantAdmin) change(ctx context.Context, s tenantd.Scope, sql string, args ...any) (*tenantd.ManagedTenant, error) {
	var m *tenantd.ManagedTenant
	err := store.db.InTenant(ctx, s, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, sql, append([]any{s.TenantID}, args...)...); err != nil {
			return err
		}
		var err error
		m, err = scanManagedTenant(tx.QueryRow(ctx, managedTenantSQL, s.TenantID))
		return err
	})
	return m, err
}

// SetPlan moves the tenant to plan; its rows stay whatever the new limits.
func (store *TenantAdmin) SetPlan(ctx context.Context, s tenantd.Scope, plan string) (*tenantd.ManagedTenant, error) {
	if _, ok := tenantd.PlanNamed(plan); !ok {
		return nil, tenantd.Invalid(tenantd.FieldError{Pointer: "/plan", Detail: "must be one of " + strings.Join(tenantd.PlanNames(), ", ")})
	}
	return store.change(ctx, s, `SELECT app.set_tenant_plan($1, $2)`, plan)
}

// PatchLimits merges changes into the tenant's limit overrides: EINVALID
// for a name that is no limit or a value out of range.
func (store *TenantAdmin) PatchLimits(ctx context.Context, s tenantd.Scope, changes map[string]*int) (*tenantd.ManagedTenant, error) {
	for name, v := range changes {
		if v == nil {
			v = new(int)
		}
		if err := tenantd.ValidateLimit(name, *v); err != nil {
			return nil, err
		}
	}
	patch, err := json.Marshal(changes)
	if err != nil {
		return nil, err
	}
	return store.change(ctx, s, `SELECT app.patch_tenant_limits($1, $2::jsonb)`, string(patch))
}

// SetFeature sets (or, with a nil value, removes) a feature's override:
// EINVALID for a name that is no feature or a wrong value.
func (store *TenantAdmin) SetFeature(ctx context.Context, s tenantd.Scope, name string, value json.RawMessage) (*tenantd.ManagedTenant, error) {
	var v any
	if value != nil {
		if err := tenantd.ValidateFeature(name, value); err != nil {
			return nil, err
		}
		v = string(value)
	}
	return store.change(ctx, s, `SELECT app.set_tenant_feature($1, $2, $3::jsonb)`, name, v)
}

// SetStatus suspends or resumes the tenant; suspending ends its sessions.
func (store *TenantAdmin) SetStatus(ctx context.Context, s tenantd.Scope, status string) (*tenantd.ManagedTenant, error) {
	if !slices.Contains(tenantd.TenantStatuses, status) {
		return nil, tenantd.Invalid(tenantd.FieldError{Pointer: "/status", Detail: "must be active or suspended"})
	}
	return store.change(ctx, s, `SELECT app.set_tenant_status($1, $2)`, status)
}
