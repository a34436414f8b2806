package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
)

// PurgeBefore bounds a purge of a tenant's oldest audit events. Whatever
// the bounds, no event younger than the tenant's audit retention (plan
// feature data_retention.audit_days) is purged.
type PurgeBefore struct {
	Seq  int64     // only events before this seq; 0: no bound
	Time time.Time // only events that occurred before this time; zero: no bound
}

// AuditPurge is what a purge did.
type AuditPurge struct {
	// Origin is the last purged event, now the chain's origin: its first
	// remaining event links to Origin.Hash. Seq 0 when nothing was purged.
	Origin tenantd.ChainPoint
	Events int64 // events deleted
}

const auditPurgePointSQL = `SELECT seq, hash FROM app.audit_purge_point($1, $2, $3)`

const purgeAuditSQL = `SELECT app.purge_audit_through($1, $2, $3)`

// PurgeAuditBefore deletes a tenant's oldest audit events, from the chain's
// origin on, as one run: every event before the bounds and older than the
// tenant's audit retention. The last deleted event becomes the chain's
// origin (audit_origins), so what remains still verifies. anchor is called
// with that event before anything is deleted and must record it outside
// the database (a signed origin checkpoint): if it fails, nothing is
// deleted. The deletion, the new origin and an audit.purged event are one
// transaction, run by app.purge_audit_through as tenantd_maint. With
// nothing to purge, anchor is not called and the result is zero. For the
// retention job, through checkpoint.Auditor.Purge.
func (db *DB) PurgeAuditBefore(ctx context.Context, tenantID uuid.UUID, before PurgeBefore,
	anchor func(context.Context, tenantd.ChainPoint) error) (AuditPurge, error) {
	var beforeSeq, beforeTime any
	if before.Seq > 0 {
		beforeSeq = before.Seq
	}
	if !before.Time.IsZero() {
		beforeTime = before.Time
	}
	scope := tenantd.SystemScope(tenantID, tenantd.RequestInfo{ID: "audit-purge"})
	var last tenantd.ChainPoint
	err := db.Run(ctx, scope, Statement{
		SQL: auditPurgePointSQL, Args: []any{tenantID, beforeSeq, beforeTime},
		Scan: func(rows pgx.Rows) error {
			if rows.Next() {
				return rows.Scan(&last.Seq, &last.Hash)
			}
			return rows.Err()
		},
	})
	if err != nil || last.Seq == 0 {
		return AuditPurge{}, err
	}
	if err := anchor(ctx, last); err != nil {
		return AuditPurge{}, err
	}
	var n int64
	err = db.Run(ctx, scope, Statement{
		SQL: purgeAuditSQL, Args: []any{tenantID, last.Seq, last.Hash},
		Scan: func(rows pgx.Rows) error {
			if !rows.Next() {
				return errors.New("postgres: purge_audit_through returned no row")
			}
			return rows.Scan(&n)
		},
	})
	if err != nil {
		return AuditPurge{}, err
	}
	return AuditPurge{Origin: last, Events: n}, nil
}
