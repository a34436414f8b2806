package postgres

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
)

// The functions in this file are the only cross-tenant paths of the
// application role. Each calls one SECURITY DEFINER function of migration
// 00005; none turns Row-Level Security off.

const tenantColumns = `id, slug, name, plan, region, status, created_at`

func scanTenant(row pgx.Row) (*tenantd.Tenant, error) {
	var t tenantd.Tenant
	err := row.Scan(&t.ID, &t.Slug, &t.Name, &t.Plan, &t.Region, &t.Status, &t.CreatedAt)
	if err != nil {
		return nil, classify(err)
	}
	return &t, nil
}

// TenantBySlug resolves a login's tenant slug. ENOTFOUND when unknown. It
// is anonymous work: it waits for the pool's anonymous share.
func (store *Platform) TenantBySlug(ctx context.Context, slug string) (*tenantd.Tenant, error) {
	if !tenantd.ValidSlug(slug) {
		return nil, tenantd.Errorf(tenantd.ENOTFOUND, "Not found.")
	}
	leave, err := store.db.share.acquireAnonymous(ctx)
	if err != nil {
		return nil, err
	}
	defer leave()
	var t *tenantd.Tenant
	err = store.db.onPlatform(ctx, Statement{SQL: `SELECT ` + tenantColumns + ` FROM app.tenant_by_slug($1)`, Args: []any{slug},
		Scan: func(rows pgx.Rows) error {
			if !rows.Next() {
				return pgx.ErrNoRows
			}
			var err error
			t, err = scanTenant(rows)
			return err
		}})
	return t, classify(err)
}

// ListTenants lists every tenant, for operators (`tenantd tenant list`).
func (store *Platform) ListTenants(ctx context.Context) ([]*tenantd.Tenant, error) {
	var out []*tenantd.Tenant
	err := store.db.onPlatform(ctx, Statement{SQL: `SELECT ` + tenantColumns + ` FROM app.list_tenants()`,
		Scan: func(rows pgx.Rows) error {
			for rows.Next() {
				t, err := scanTenant(rows)
				if err != nil {
					return err
				}
				out = append(out, t)
			}
			return rows.Err()
		}})
	return out, err
}

// CreateTenant provisions a tenant and its owner in one transaction, in the
// cell the directory places new tenants in: the tenant row, its usage
// counters and audit chain (app.create_tenant), then, under the new
// tenant's context, the owner user and a tenant.created event. ECONFLICT
// when the slug is taken.
func (store *Platform) CreateTenant(ctx context.Context, n tenantd.NewTenant, req tenantd.RequestInfo) (*tenantd.Tenant, *tenantd.User, error) {
	if err := n.Validate(); err != nil {
		return nil, nil, err
	}
	email, _ := tenantd.NormalizeEmail(n.OwnerEmail)
	if n.Region == "" {
		n.Region = "us"
	}
	var id uuid.UUID
	var u tenantd.User
	t := &tenantd.Tenant{}
	err := store.db.provision(ctx, store.db.dir.placeNew(),
		Statement{SQL: `SELECT app.create_tenant($1, $2, $3, $4)`, Args: []any{n.Slug, n.Name, n.Plan, n.Region},
			Scan: scanOne(&id)},
		func() (tenantd.Scope, Statement) {
			return tenantd.SystemScope(id, req), Statement{
				SQL: `WITH owner AS (
				          INSERT INTO users (tenant_id, email, password_hash, role) VALUES ($1, $2, $3, 'owner')
				          RETURNING id, email, role, status, created_at, updated_at)
				      SELECT o.id, o.email, o.role, o.status, o.created_at, o.updated_at,
				             t.id, t.slug, t.name, t.plan, t.region, t.status, t.created_at
				        FROM owner o, tenants t WHERE t.id = $1`,
				Args: []any{id, email, n.OwnerPasswordHash},
				Scan: scanOne(&u.ID, &u.Email, &u.Role, &u.Status, &u.CreatedAt, &u.UpdatedAt,
					&t.ID, &t.Slug, &t.Name, &t.Plan, &t.Region, &t.Status, &t.CreatedAt),
				Events: []tenantd.Event{{Action: tenantd.ActionTenantCreated, TargetType: "tenant", TargetID: id.String(),
					Changes: map[string]any{"slug": n.Slug, "name": n.Name, "plan": n.Plan, "region": n.Region}}},
			}
		})
	if err != nil {
		return nil, nil, err
	}
	u.TenantID = id
	return t, &u, nil
}

// IDInOtherTenant reports whether id (of kind user, workspace, session or
// tenant) exists in a tenant other than the scope's. It answers only yes or
// no and is used solely to flag cross-tenant probes; the caller answers 404
// either way.
func (store *Platform) IDInOtherTenant(ctx context.Context, s tenantd.Scope, kind string, id uuid.UUID) (bool, error) {
	var found bool
	err := store.db.Run(ctx, s, Statement{
		SQL:  `SELECT app.id_in_other_tenant($1, $2)`,
		Args: []any{kind, id},
		Scan: func(rows pgx.Rows) error {
			if rows.Next() {
				return rows.Scan(&found)
			}
			return nil
		},
	})
	return found, err
}
