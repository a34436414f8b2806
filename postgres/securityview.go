package postgres

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
)

// The platform security view: flagged events of every tenant and the
// security events that belong to no verified tenant. For platform operators
// only (the operator route checks); the application role reaches them
// solely through the SECURITY DEFINER functions of migration 00006, never
// by turning Row-Level Security off.

const flaggedEventsSQL = `
SELECT tenant_id, tenant_slug, pos, seq, event_id, occurred_at, actor_type, actor_id, action, target_type,
       target_id, outcome, flag_reason, coalesce(ip, ''), user_agent, request_id, changes
  FROM app.flagged_events_page($1, $2, $3, $4)`

const securityEventsSQL = `
SELECT id, occurred_at, action, reason, claimed_tenant_id, coalesce(ip, ''), user_agent, request_id
  FROM app.security_events_page($1, $2)`

// flaggedCursor is the key of the last flagged event of a page.
type flaggedCursor struct {
	At     int64     `json:"at"` // occurred_at, Unix microseconds
	Tenant uuid.UUID `json:"t"`
	Pos    int64     `json:"p"`
}

type securityCursor struct {
	Before int64 `json:"before"`
}

// FlaggedEvents returns one page of flagged events across all tenants,
// newest first, and the cursor of the next page ("" after the last).
// limit is 1..500 (0 means 50). EBADREQUEST for a bad cursor or limit.
func (store *Platform) FlaggedEvents(ctx context.Context, cursor string, limit int) ([]tenantd.FlaggedEvent, string, error) {
	limit, err := tenantd.PageSize(limit)
	if err != nil {
		return nil, "", err
	}
	var at, tenant, pos any
	if cursor != "" {
		var c flaggedCursor
		if err := decodeCursor(cursor, &c); err != nil || c.Pos < 1 || c.Tenant == uuid.Nil {
			return nil, "", badCursor()
		}
		at, tenant, pos = time.UnixMicro(c.At), c.Tenant, c.Pos
	}
	var out []tenantd.FlaggedEvent
	err = store.db.onPlatform(ctx, Statement{SQL: flaggedEventsSQL, Args: []any{at, tenant, pos, limit + 1},
		Scan: func(rows pgx.Rows) error {
			for rows.Next() {
				var e tenantd.FlaggedEvent
				e.Flagged = true
				if err := rows.Scan(&e.TenantID, &e.TenantSlug, &e.Pos, &e.Seq, &e.ID, &e.OccurredAt, &e.Actor.Type, &e.Actor.ID,
					&e.Action, &e.Target.Type, &e.Target.ID, &e.Outcome, &e.FlagReason, &e.IP, &e.UserAgent,
					&e.RequestID, &e.Changes); err != nil {
					return err
				}
				e.OccurredAt = e.OccurredAt.UTC()
				if e.Changes == nil {
					e.Changes = map[string]any{}
				}
				out = append(out, e)
			}
			return rows.Err()
		}})
	if err != nil {
		return nil, "", err
	}
	out, next := trimPage(out, limit, func(last tenantd.FlaggedEvent) any {
		return flaggedCursor{At: last.OccurredAt.UnixMicro(), Tenant: last.TenantID, Pos: last.Pos}
	})
	return out, next, nil
}

// UnattributedSecurityEvents returns one page of security events that
// belong to no verified tenant, newest first, and the cursor of the next
// page ("" after the last). limit is 1..500 (0 means 50).
func (store *Platform) UnattributedSecurityEvents(ctx context.Context, cursor string, limit int) ([]tenantd.SecurityEvent, string, error) {
	limit, err := tenantd.PageSize(limit)
	if err != nil {
		return nil, "", err
	}
	var before any
	if cursor != "" {
		var c securityCursor
		if err := decodeCursor(cursor, &c); err != nil || c.Before < 1 {
			return nil, "", badCursor()
		}
		before = c.Before
	}
	var out []tenantd.SecurityEvent
	err = store.db.onPlatform(ctx, Statement{SQL: securityEventsSQL, Args: []any{before, limit + 1},
		Scan: func(rows pgx.Rows) error {
			for rows.Next() {
				var e tenantd.SecurityEvent
				if err := rows.Scan(&e.ID, &e.OccurredAt, &e.Action, &e.Reason, &e.ClaimedTenantID, &e.IP,
					&e.UserAgent, &e.RequestID); err != nil {
					return err
				}
				e.OccurredAt = e.OccurredAt.UTC()
				out = append(out, e)
			}
			return rows.Err()
		}})
	if err != nil {
		return nil, "", err
	}
	out, next := trimPage(out, limit, func(last tenantd.SecurityEvent) any { return securityCursor{Before: last.ID} })
	return out, next, nil
}
