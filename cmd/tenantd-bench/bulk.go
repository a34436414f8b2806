package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// bulkBatch is how many tenants one statement of provisionBulk creates.
const bulkBatch = 5000

// provisionBulk adds tenants until there are n, in batches, straight in
// the database (as the superuser, the usual row triggers off): each with
// its usage counters, audit head and settings row (app.create_tenant), an
// owner, the configured workspaces and a live session, and the bench's
// high rate limit. It writes no audit events (the tenants' chains start
// empty) and leaves the usage counters at zero; the load then signs one
// token per session. 100,000 tenants take a couple of minutes here, where
// creating them one by one through the door took about an hour.
func (b *bench) provisionBulk(ctx context.Context, n int) error {
	conn, err := pgx.Connect(ctx, b.adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	start := time.Now()
	for from := len(b.users); from < n; from += bulkBatch {
		to := min(n, from+bulkBatch)
		var users []*user
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, bulkTenantsSQL, from, to-1, passwordHash, b.cfg.workspaces)
			if err != nil {
				return err
			}
			users, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*user, error) {
				u := &user{}
				var session uuid.UUID
				if err := r.Scan(&u.tenant, &u.id, &session, &u.workspaces); err != nil {
					return nil, err
				}
				// The session id rides in the token field until it is signed.
				u.token = session.String()
				return u, nil
			})
			if err != nil {
				return err
			}
			ids := make([]uuid.UUID, len(users))
			for i, u := range users {
				ids[i] = u.tenant
			}
			_, err = tx.Exec(ctx, bulkRateLimitSQL, ids)
			return err
		})
		if err != nil {
			return fmt.Errorf("tenants %d to %d: %w", from, to-1, err)
		}
		for _, u := range users {
			tok, _, err := b.issuer.Issue(u.id, u.tenant, uuid.MustParse(u.token))
			if err != nil {
				return err
			}
			u.token = tok
		}
		b.users = append(b.users, users...)
		fmt.Fprintf(os.Stderr, "  %d tenants (%s)\n", len(b.users), time.Since(start).Round(time.Second))
	}
	return nil
}

// bulkTenantsSQL creates tenants bulk-$1 to bulk-$2, each with an owner
// (password hash $3), $4 workspaces and a session, and returns each
// tenant's id, owner, session and workspaces.
const bulkTenantsSQL = `
WITH t AS (
    SELECT app.create_tenant('bulk-' || g, 'Bulk ' || g, 'enterprise', 'us') AS id
      FROM generate_series($1::int, $2::int) g
), u AS (
    INSERT INTO users (tenant_id, email, password_hash, role)
    SELECT id, 'owner@example.com', $3, 'owner' FROM t
    RETURNING tenant_id, id
), s AS (
    INSERT INTO sessions (tenant_id, user_id, refresh_hash, expires_at)
    SELECT tenant_id, id, 'bench', now() + interval '1 day' FROM u
    RETURNING tenant_id, id
), w AS (
    INSERT INTO workspaces (tenant_id, name)
    SELECT t.id, 'workspace ' || n FROM t, generate_series(1, $4::int) n
    RETURNING tenant_id, id
)
SELECT u.tenant_id, u.id, s.id, array_agg(w.id)
  FROM u JOIN s ON s.tenant_id = u.tenant_id JOIN w ON w.tenant_id = u.tenant_id
 GROUP BY u.tenant_id, u.id, s.id`

// bulkRateLimitSQL gives the tenants $1 the bench's rate limit, high
// enough never to refuse: the load measures the stack, not the limit.
const bulkRateLimitSQL = `
UPDATE tenants SET features = features ||
       '{"api_rate_limit": {"rate": 1000000, "period_seconds": 1, "burst": 1000000}}'
 WHERE id = ANY($1)`
