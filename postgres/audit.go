package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
)

// Reading and exporting a tenant's audit log. Both run through
// the door under the caller's tenant context and, besides RLS, name the
// tenant in every query. Both are themselves audited, in the same
// transaction as the read: callers cannot forget it.

// auditCursor is the position after a page: the pos (the order of
// writing; an unsealed event has no seq yet) of its last (oldest) event.
// It carries no tenant: every query runs under the caller's tenant context
// and names the caller's tenant, so a cursor taken from another tenant's
// listing only ever selects the caller's own events.
type auditCursor struct {
	BeforePos int64 `json:"before_pos"`
}

// decodeAuditCursor parses a cursor strictly; 0 means none.
func decodeAuditCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	var c auditCursor
	if err := decodeCursor(s, &c); err != nil || c.BeforePos < 1 {
		return 0, badCursor()
	}
	return c.BeforePos, nil
}

const auditColumns = `tenant_id, seq, pos, id, occurred_at, actor_type, actor_id, action, target_type,
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

// Newest first, keyset-paginated on pos, the sealed events (through the
// indexes, which hold sealed events only) and the few not sealed yet
// (through the sealer's queue) merged.
const listAuditEventsSQL = `
(SELECT ` + auditColumns + `
   FROM audit_events` + auditWhere + `
    AND seq IS NOT NULL AND ($10::bigint IS NULL OR pos < $10)
  ORDER BY pos DESC
  LIMIT $11)
UNION ALL
(SELECT ` + auditColumns + `
   FROM audit_events` + auditWhere + `
    AND seq IS NULL AND ($10::bigint IS NULL OR pos < $10)
  ORDER BY pos DESC
  LIMIT $11)
 ORDER BY pos DESC
 LIMIT $11`

// Oldest first, in the order the events were written (pos); seq, the
// order of the hash chain, differs only where a transaction committed
// after later ones were sealed. Sealed and unsealed merged, as above.
const exportAuditEventsSQL = `
(SELECT ` + auditColumns + `
   FROM audit_events` + auditWhere + ` AND seq IS NOT NULL
  ORDER BY pos)
UNION ALL
(SELECT ` + auditColumns + `
   FROM audit_events` + auditWhere + ` AND seq IS NULL
  ORDER BY pos)
 ORDER BY pos`

// args are $1..$9 of auditWhere.
func auditArgs(f tenantd.AuditFilter, tenant any) []any {
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
func auditRecord(f tenantd.AuditFilter) map[string]any {
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
	err := rows.Scan(&e.TenantID, &e.Seq, &e.Pos, &e.ID, &e.OccurredAt, &e.Actor.Type, &e.Actor.ID, &e.Action,
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
func (store *Audit) List(ctx context.Context, s tenantd.Scope, f tenantd.AuditFilter) (items []tenantd.AuditEvent, next string, err error) {
	if err := f.Validate(); err != nil {
		return nil, "", err
	}
	limit, _ := tenantd.PageSize(f.Limit) // checked by Validate
	before, err := decodeAuditCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	var cursor any
	if before > 0 {
		cursor = before
	}
	changes := auditRecord(f)
	changes["limit"] = limit
	if before > 0 {
		changes["before_pos"] = before
	}
	err = store.db.Run(ctx, s, Statement{
		SQL:  listAuditEventsSQL,
		Args: append(auditArgs(f, s.TenantID), cursor, limit+1),
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
	items, next = trimPage(items, limit, func(last tenantd.AuditEvent) any { return auditCursor{BeforePos: last.Pos} })
	return items, next, nil
}

// ExportAuditEvents streams every event of the scope's tenant that matches
// f, oldest first, to each, in one transaction and without holding the set
// in memory. A complete export is recorded as an audit.exported event in
// the same transaction; one that each or the database cut short is recorded
// as a failed audit.exported event of its own, with how many events went
// out. For tenant owners and admins (the handler checks; RLS scopes).
func (store *Audit) Export(ctx context.Context, s tenantd.Scope, f tenantd.AuditFilter, each func(tenantd.AuditEvent) error) error {
	f.Limit, f.Cursor = 0, ""
	if err := f.Validate(); err != nil {
		return err
	}
	sent := 0
	err := store.db.InTenant(ctx, s, func(tx *Tx) error {
		rows, err := tx.Query(ctx, exportAuditEventsSQL, auditArgs(f, s.TenantID)...)
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
		changes := auditRecord(f)
		changes["events"] = sent
		tx.Audit(tenantd.Event{Action: tenantd.ActionAuditExported, TargetType: "audit_log",
			TargetID: s.TenantID.String(), Changes: changes})
		return nil
	})
	if err != nil {
		changes := auditRecord(f)
		changes["events"] = sent
		changes["error"] = tenantd.ErrorMessage(err)
		if rerr := store.db.Audit().Record(context.WithoutCancel(ctx), s, tenantd.Event{Action: tenantd.ActionAuditExported,
			Outcome: tenantd.OutcomeFailed, TargetType: "audit_log", TargetID: s.TenantID.String(),
			Changes: changes}); rerr != nil {
			store.db.log.Error("record failed export", "err", rerr, "tenant_id", s.TenantID)
		}
	}
	return err
}
