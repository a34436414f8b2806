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
func (db *DB) TenantBySlug(ctx context.Context, slug string) (*tenantd.Tenant, error) {
	if !tenantd.ValidSlug(slug) {
		return nil, tenantd.Errorf(tenantd.ENOTFOUND, "Not found.")
	}
	leave, err := db.share.acquireAnonymous(ctx)
	if err != nil {
		return nil, err
	}
	defer leave()
	return scanTenant(db.dir.platform().QueryRow(ctx,
		`SELECT `+tenantColumns+` FROM app.tenant_by_slug($1)`, slug))
}

// ListTenants lists every tenant, for operators (`tenantd tenant list`).
func (db *DB) ListTenants(ctx context.Context) ([]*tenantd.Tenant, error) {
	rows, err := db.dir.platform().Query(ctx, `SELECT `+tenantColumns+` FROM app.list_tenants()`)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []*tenantd.Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, classify(rows.Err())
}

// CreateTenant provisions a tenant and its owner in one transaction: the
// tenant row, its usage counters and audit chain (app.create_tenant), then,
// under the new tenant's context, the owner user and a tenant.created event.
// ECONFLICT when the slug is taken.
func (db *DB) CreateTenant(ctx context.Context, n tenantd.NewTenant, req tenantd.RequestInfo) (*tenantd.Tenant, *tenantd.User, error) {
	if err := n.Validate(); err != nil {
		return nil, nil, err
	}
	email, _ := tenantd.NormalizeEmail(n.OwnerEmail)
	if n.Region == "" {
		n.Region = "us"
	}
	conn, err := db.dir.platform().Acquire(ctx)
	if err != nil {
		return nil, nil, classify(err)
	}
	defer conn.Release()

	var id uuid.UUID
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(`SELECT app.create_tenant($1, $2, $3, $4)`, n.Slug, n.Name, n.Plan, n.Region)
	br := conn.SendBatch(ctx, b)
	_, err = br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&id)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		rollback(conn)
		return nil, nil, classify(err)
	}

	s := SystemScope(id, req)
	prelude, _ := s.prelude()
	b = &pgx.Batch{}
	for _, q := range prelude[1:] { // already inside the transaction
		b.Queue(q.sql, q.args...)
	}
	b.Queue(`INSERT INTO users (tenant_id, email, password_hash, role) VALUES ($1, $2, $3, 'owner')
	         RETURNING id, email, role, status, created_at, updated_at`, id, email, n.OwnerPasswordHash)
	queueEvent(b, s, tenantd.Event{Action: tenantd.ActionTenantCreated, TargetType: "tenant", TargetID: id.String(),
		Changes: map[string]any{"slug": n.Slug, "name": n.Name, "plan": n.Plan, "region": n.Region}})
	b.Queue(`SELECT `+tenantColumns+` FROM tenants WHERE id = $1`, id)
	b.Queue("COMMIT")

	var u tenantd.User
	var t *tenantd.Tenant
	br = conn.SendBatch(ctx, b)
	err = func() error {
		for range len(prelude) - 1 {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		if err := br.QueryRow().Scan(&u.ID, &u.Email, &u.Role, &u.Status, &u.CreatedAt, &u.UpdatedAt); err != nil {
			return err
		}
		if _, err := br.Exec(); err != nil {
			return err
		}
		var err error
		if t, err = scanTenant(br.QueryRow()); err != nil {
			return err
		}
		tag, err := br.Exec()
		if err != nil {
			return err
		}
		return committed(tag)
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		rollback(conn)
		return nil, nil, classify(err)
	}
	u.TenantID = id
	return t, &u, nil
}

// IDInOtherTenant reports whether id (of kind user, workspace, session or
// tenant) exists in a tenant other than the scope's. It answers only yes or
// no and is used solely to flag cross-tenant probes; the caller answers 404
// either way.
func (db *DB) IDInOtherTenant(ctx context.Context, s Scope, kind string, id uuid.UUID) (bool, error) {
	var found bool
	err := db.Run(ctx, s, Statement{
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
