package postgres

import (
	"context"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
)

// Reading and exporting a tenant's audit log. Both run through
// the door under the caller's tenant context and, besides RLS, name the
// tenant in every query. Both are themselves audited, in the same
// transaction as the read: callers cannot forget it.

// AuditFilter selects audit events. Empty fields do not filter.
type AuditFilter struct {
	// Action is an action of tenantd.Actions ("login.failed") or a prefix ending
	// in ".*" ("login.*") of at least one.
	Action     string
	ActorID    string
	TargetType string
	TargetID   string
	Flagged    *bool
	Since      *time.Time // inclusive
	Until      *time.Time // exclusive

	// Limit is the page size of ListAuditEvents: 0 means DefaultPage.
	Limit int
	// Cursor is the next cursor of the previous page of ListAuditEvents.
	Cursor string
	// Format is recorded in the audit.exported event of ExportAuditEvents;
	// it does not filter.
	Format string
}

var actionFilter = regexp.MustCompile(`^[a-z_]+(\.[a-z_]+)*(\.\*)?$`)

// Validate checks a filter: EBADREQUEST naming the first bad parameter.
func (f *AuditFilter) Validate() error {
	bad := func(format string, args ...any) error { return tenantd.Errorf(tenantd.EBADREQUEST, format, args...) }
	if f.Action != "" && (len(f.Action) > 200 || !actionFilter.MatchString(f.Action)) {
		return bad(`Parameter "action" must be a dotted action such as login.failed, or a prefix such as login.*.`)
	}
	if prefix, ok := strings.CutSuffix(f.Action, "*"); ok && !tenantd.IsActionPrefix(prefix) ||
		!ok && f.Action != "" && !tenantd.IsAction(f.Action) {
		// An empty page would read as "no such events"; GET /v1/audit-actions lists them.
		return bad(`Parameter "action" names no audit action; GET /v1/audit-actions lists them.`)
	}
	for name, v := range map[string]string{"actor": f.ActorID, "target_type": f.TargetType, "target_id": f.TargetID} {
		if len(v) > 200 || !printable(v) {
			return bad("Parameter %q must be at most 200 printable characters.", name)
		}
	}
	if f.Since != nil && f.Until != nil && !f.Since.Before(*f.Until) {
		return bad(`Parameter "since" must be before "until".`)
	}
	if _, err := pageSize(f.Limit); err != nil {
		return err
	}
	if _, err := decodeAuditCursor(f.Cursor); err != nil {
		return err
	}
	return nil
}

func printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0
}

// auditCursor is the position after a page: the seq of its last (oldest)
// event. It carries no tenant: every query runs under the caller's tenant
// context and names the caller's tenant, so a cursor taken from another
// tenant's listing only ever selects the caller's own events.
type auditCursor struct {
	Before int64 `json:"before"`
}

// decodeAuditCursor parses a cursor strictly; 0 means none.
func decodeAuditCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	var c auditCursor
	if err := decodeCursor(s, &c); err != nil || c.Before < 1 {
		return 0, badCursor()
	}
	return c.Before, nil
}

const auditColumns = `tenant_id, seq, id, occurred_at, actor_type, actor_id, action, target_type,
       target_id, outcome, flagged, flag_reason, coalesce(abbrev(ip), ''), user_agent, request_id, changes`

// auditWhere is the filter of both queries; $1 is the caller's tenant.
const auditWhere = `
 WHERE tenant_id = $1
   AND ($2::text IS NULL OR action = $2)
   AND ($3::text IS NULL OR starts_with(action, $3))
   AND ($4::text IS NULL OR actor_id = $4)
   AND ($5::text IS NULL OR target_type = $5)
   AND ($6::text IS NULL OR target_id = $6)
   AND ($7::boolean IS NULL OR flagged = $7)
   AND ($8::timestamptz IS NULL OR occurred_at >= $8)
   AND ($9::timestamptz IS NULL OR occurred_at < $9)`

// Newest first, keyset-paginated on seq.
const listAuditEventsSQL = `
SELECT ` + auditColumns + `
  FROM audit_events` + auditWhere + `
   AND ($10::bigint IS NULL OR seq < $10)
 ORDER BY seq DESC
 LIMIT $11`

// Oldest first: the order of the hash chain.
const exportAuditEventsSQL = `
SELECT ` + auditColumns + `
  FROM audit_events` + auditWhere + `
 ORDER BY seq`

// args are $1..$9 of auditWhere.
func (f *AuditFilter) args(tenant any) []any {
	opt := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	var exact, prefix any
	if p, ok := strings.CutSuffix(f.Action, "*"); ok {
		prefix = p
	} else {
		exact = opt(f.Action)
	}
	var flagged, since, until any
	if f.Flagged != nil {
		flagged = *f.Flagged
	}
	if f.Since != nil {
		since = *f.Since
	}
	if f.Until != nil {
		until = *f.Until
	}
	return []any{tenant, exact, prefix, opt(f.ActorID), opt(f.TargetType), opt(f.TargetID), flagged, since, until}
}

// record is what the audit event of a read says about the filter.
func (f *AuditFilter) record() map[string]any {
	m := map[string]any{}
	for k, v := range map[string]string{"action": f.Action, "actor": f.ActorID, "target_type": f.TargetType,
		"target_id": f.TargetID, "format": f.Format} {
		if v != "" {
			m[k] = v
		}
	}
	if f.Flagged != nil {
		m["flagged"] = *f.Flagged
	}
	if f.Since != nil {
		m["since"] = f.Since.UTC().Format(time.RFC3339Nano)
	}
	if f.Until != nil {
		m["until"] = f.Until.UTC().Format(time.RFC3339Nano)
	}
	return m
}

func scanAuditEvent(rows pgx.Rows) (tenantd.AuditEvent, error) {
	var e tenantd.AuditEvent
	err := rows.Scan(&e.TenantID, &e.Seq, &e.ID, &e.OccurredAt, &e.Actor.Type, &e.Actor.ID, &e.Action,
		&e.Target.Type, &e.Target.ID, &e.Outcome, &e.Flagged, &e.FlagReason, &e.IP, &e.UserAgent,
		&e.RequestID, &e.Changes)
	e.OccurredAt = e.OccurredAt.UTC()
	if e.Changes == nil {
		e.Changes = map[string]any{}
	}
	return e, err
}

// ListAuditEvents returns one page of the scope's tenant's events, newest
// first, and the cursor of the next page ("" after the last). The query is
// recorded as an audit.queried event in the same transaction: one round
// trip. For tenant owners and admins (the handler checks; RLS scopes).
// EBADREQUEST for a bad filter or cursor.
func (db *DB) ListAuditEvents(ctx context.Context, s Scope, f AuditFilter) (items []tenantd.AuditEvent, next string, err error) {
	if err := f.Validate(); err != nil {
		return nil, "", err
	}
	limit, _ := pageSize(f.Limit) // checked by Validate
	before, _ := decodeAuditCursor(f.Cursor)
	var cursor any
	if before > 0 {
		cursor = before
	}
	changes := f.record()
	changes["limit"] = limit
	if before > 0 {
		changes["before_seq"] = before
	}
	err = db.Run(ctx, s, Statement{
		SQL:  listAuditEventsSQL,
		Args: append(f.args(s.TenantID), cursor, limit+1),
		Scan: func(rows pgx.Rows) error {
			for rows.Next() {
				e, err := scanAuditEvent(rows)
				if err != nil {
					return err
				}
				items = append(items, e)
			}
			return rows.Err()
		},
		Events: []tenantd.Event{{Action: tenantd.ActionAuditQueried, TargetType: "audit_log",
			TargetID: s.TenantID.String(), Changes: changes}},
	})
	if err != nil {
		return nil, "", err
	}
	if len(items) > limit {
		items = items[:limit]
		next = encodeCursor(auditCursor{Before: items[limit-1].Seq})
	}
	return items, next, nil
}

// ExportAuditEvents streams every event of the scope's tenant that matches
// f, oldest first, to each, in one transaction and without holding the set
// in memory. A complete export is recorded as an audit.exported event in
// the same transaction; one that each or the database cut short is recorded
// as a failed audit.exported event of its own, with how many events went
// out. For tenant owners and admins (the handler checks; RLS scopes).
func (db *DB) ExportAuditEvents(ctx context.Context, s Scope, f AuditFilter, each func(tenantd.AuditEvent) error) error {
	f.Limit, f.Cursor = 0, ""
	if err := f.Validate(); err != nil {
		return err
	}
	sent := 0
	err := db.InTenant(ctx, s, func(tx *Tx) error {
		rows, err := tx.Query(ctx, exportAuditEventsSQL, f.args(s.TenantID)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanAuditEvent(rows)
			if err != nil {
				return err
			}
			if err := each(e); err != nil {
				return err
			}
			sent++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		changes := f.record()
		changes["events"] = sent
		tx.Audit(tenantd.Event{Action: tenantd.ActionAuditExported, TargetType: "audit_log",
			TargetID: s.TenantID.String(), Changes: changes})
		return nil
	})
	if err != nil {
		changes := f.record()
		changes["events"] = sent
		changes["error"] = tenantd.ErrorMessage(err)
		if rerr := db.RecordEvent(context.WithoutCancel(ctx), s, tenantd.Event{Action: tenantd.ActionAuditExported,
			Outcome: tenantd.OutcomeFailed, TargetType: "audit_log", TargetID: s.TenantID.String(),
			Changes: changes}); rerr != nil {
			db.log.Error("record failed export", "err", rerr, "tenant_id", s.TenantID)
		}
	}
	return err
}
