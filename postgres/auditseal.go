package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
)

// Sealing: a write inserts its audit event unsealed (no seq, prev_hash or
// hash), so that a tenant's writers never wait for each other; the sealer
// chains committed events afterwards, in batches, off the write path
// (migration 00022, docs/audit-chain.md). Every server instance runs it
// (RunSealer); the tenant's head row, taken FOR UPDATE SKIP LOCKED by
// app.seal_audit_events, lets one instance at a time chain a tenant while
// the others skip it, so no event is sealed twice and the chain never
// forks.

// sealBatch is how many events one call of app.seal_audit_events chains,
// and so how long it holds the tenant's head (writers never wait for it).
const sealBatch = 1000

const sealAuditSQL = `SELECT app.seal_audit_events($1, $2)`

const unsealedAuditSQL = `SELECT tenant_id, events, oldest FROM app.unsealed_audit_tenants($1)`

// SealAudit chains the tenant's unsealed events that are committed, in the
// order they were written, and returns how many it chained. When another
// instance is sealing the tenant at that moment it returns what it did so
// far: that instance chains the rest. For the sealer, the checkpointer
// (which seals before it signs) and `tenantd audit seal`.
func (db *DB) SealAudit(ctx context.Context, tenantID uuid.UUID) (int64, error) {
	scope := tenantd.SystemScope(tenantID, tenantd.RequestInfo{ID: "audit-seal"})
	var total int64
	for {
		var n int64
		err := db.Run(ctx, scope, Statement{SQL: sealAuditSQL, Args: []any{tenantID, sealBatch},
			Scan: func(rows pgx.Rows) error {
				if !rows.Next() {
					return rows.Err()
				}
				return rows.Scan(&n)
			}})
		if err != nil {
			return total, err
		}
		total += n
		if n < sealBatch {
			return total, nil
		}
	}
}

// Unsealed is a tenant's audit events that wait for the sealer.
type Unsealed struct {
	TenantID uuid.UUID
	Events   int64
	Oldest   time.Time // when the oldest of them was written
}

// UnsealedAudit lists the tenants with unsealed audit events, the longest
// waiting first, on every cell (app.unsealed_audit_tenants).
func (db *DB) UnsealedAudit(ctx context.Context) ([]Unsealed, error) {
	var out []Unsealed
	for _, c := range db.dir.all() {
		err := db.onCell(ctx, c, Statement{SQL: unsealedAuditSQL, Args: []any{100000},
			Scan: func(rows pgx.Rows) error {
				for rows.Next() {
					var u Unsealed
					if err := rows.Scan(&u.TenantID, &u.Events, &u.Oldest); err != nil {
						return err
					}
					out = append(out, u)
				}
				return rows.Err()
			}})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// SealRun is what one round of the sealer found and did.
type SealRun struct {
	Tenants int       // tenants that had unsealed events
	Waiting int64     // unsealed events found
	Oldest  time.Time // when the oldest of them was written (zero: none)
	Sealed  int64     // events this instance sealed
}

// SealAllAudit seals every tenant that has unsealed events, the longest
// waiting first. A tenant that fails is skipped and reported in the error
// after the others were sealed.
func (db *DB) SealAllAudit(ctx context.Context) (SealRun, error) {
	var run SealRun
	waiting, err := db.UnsealedAudit(ctx)
	if err != nil {
		return run, err
	}
	var firstErr error
	for _, u := range waiting {
		run.Tenants++
		run.Waiting += u.Events
		if run.Oldest.IsZero() || u.Oldest.Before(run.Oldest) {
			run.Oldest = u.Oldest
		}
		n, err := db.SealAudit(ctx, u.TenantID)
		run.Sealed += n
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("seal tenant %s: %w", u.TenantID, err)
		}
	}
	return run, firstErr
}

// RunSealer seals every tenant's unsealed events every interval until ctx
// ends, calling report after each round (for logs and metrics).
func (db *DB) RunSealer(ctx context.Context, every time.Duration, report func(SealRun, error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		run, err := db.SealAllAudit(ctx)
		if ctx.Err() != nil {
			return
		}
		report(run, err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
