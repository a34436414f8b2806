package main

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// scenario is one measured request: what the client sends to the API, and
// the same SQL for the ceiling, with an explicit tenant_id predicate.
type scenario struct {
	name  string
	route string // must be in the route table, else the scenario is skipped
	// request returns the method, path and body of request n for u.
	request func(u *user, n int64) (method, path, body string)
	// ceiling runs the scenario's SQL through plain pgx.
	ceiling func(ctx context.Context, pool *pgxpool.Pool, u *user, n int64) error
}

var renames atomic.Int64

func (b *bench) scenarios() []scenario {
	all := []scenario{
		{
			name: "GET /v1/me", route: "GET /v1/me",
			request: func(u *user, n int64) (string, string, string) { return "GET", "/v1/me", "" },
			ceiling: func(ctx context.Context, pool *pgxpool.Pool, u *user, n int64) error {
				return scanOne(pool.QueryRow(ctx, `
SELECT u.id, u.email, u.role, t.id, t.slug, t.name
  FROM users u JOIN tenants t ON t.id = u.tenant_id
 WHERE u.tenant_id = $1 AND u.id = $2`, u.tenant, u.id), 6)
			},
		},
		{
			name: "GET /v1/workspaces/{id}", route: "GET /v1/workspaces/{id}",
			request: func(u *user, n int64) (string, string, string) {
				return "GET", "/v1/workspaces/" + u.workspaces[n%int64(len(u.workspaces))].String(), ""
			},
			ceiling: func(ctx context.Context, pool *pgxpool.Pool, u *user, n int64) error {
				return scanOne(pool.QueryRow(ctx, `
SELECT id, name, description, created_at, updated_at FROM workspaces
 WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL`, u.tenant, u.workspaces[n%int64(len(u.workspaces))]), 5)
			},
		},
		{
			name: "GET /v1/workspaces?limit=20", route: "GET /v1/workspaces",
			request: func(u *user, n int64) (string, string, string) { return "GET", "/v1/workspaces?limit=20", "" },
			ceiling: func(ctx context.Context, pool *pgxpool.Pool, u *user, n int64) error {
				rows, err := pool.Query(ctx, `
SELECT id, name, description, created_at, updated_at FROM workspaces
 WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY created_at, id LIMIT 21`, u.tenant)
				if err != nil {
					return err
				}
				_, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
				return err
			},
		},
		{
			name: "PATCH /v1/workspaces/{id}", route: "PATCH /v1/workspaces/{id}",
			request: func(u *user, n int64) (string, string, string) {
				return "PATCH", "/v1/workspaces/" + u.workspaces[n%int64(len(u.workspaces))].String(),
					fmt.Sprintf(`{"name":"renamed %d"}`, renames.Add(1))
			},
			// The audit trigger needs the tenant context, so the ceiling's
			// write sets it in the same pipeline: still one round trip.
			ceiling: func(ctx context.Context, pool *pgxpool.Pool, u *user, n int64) error {
				bt := &pgx.Batch{}
				bt.Queue("BEGIN")
				bt.Queue("SET LOCAL app.context = '" + u.tenant.String() + "'")
				bt.Queue(`UPDATE workspaces SET name = $3, updated_at = now()
 WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING id, name, description, created_at, updated_at`,
					u.tenant, u.workspaces[n%int64(len(u.workspaces))], fmt.Sprintf("renamed %d", renames.Add(1)))
				bt.Queue("COMMIT")
				return pool.SendBatch(ctx, bt).Close()
			},
		},
	}
	var out []scenario
	for _, sc := range all {
		if b.routes[sc.route] {
			out = append(out, sc)
		}
	}
	return out
}

func scanOne(row pgx.Row, n int) error {
	dest := make([]any, n)
	for i := range dest {
		dest[i] = new(any)
	}
	return row.Scan(dest...)
}
