package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
)

// Tamper evidence. Each event's hash is sha256(previous hash || canonical
// encoding of the event), computed by app.audit_chain under a lock on the
// tenant's audit_heads row, which holds the last seq and hash.
// Verification recomputes the chain here, in Go, from the raw columns
// (auditcanon.go): no database function takes part, so a replaced one
// cannot vouch for a changed row.

// VerifyResult is the verdict on one tenant's chain.
type VerifyResult struct {
	TenantID uuid.UUID
	Slug     string
	Events   int64 // events checked
	HeadSeq  int64 // the seq the chain's head says is the last
	OK       bool
	// BrokenSeq is the first seq whose event was changed, deleted or
	// inserted out of band (0 when OK); Problem says what is wrong there.
	BrokenSeq int64
	Problem   string
}

const chainEventsSQL = `
SELECT ` + chainEventColumns + `
  FROM audit_events
 WHERE tenant_id = $1
 ORDER BY seq`

const chainHeadSQL = `SELECT seq, hash FROM audit_heads WHERE tenant_id = $1`

// VerifyAuditChain recomputes a tenant's hash chain: seqs run 1..n without a
// gap, each prev_hash is the previous event's hash, each hash matches its
// event, and the last event is the chain's head. It reads one snapshot
// (REPEATABLE READ), so concurrent writers never cause a false alarm, and
// streams the events. For operators (`tenantd audit verify`).
func (db *DB) VerifyAuditChain(ctx context.Context, tenantID uuid.UUID) (VerifyResult, error) {
	res := VerifyResult{TenantID: tenantID}
	err := db.InTenant(ctx, SystemScope(tenantID, tenantd.RequestInfo{ID: "audit-verify"}), func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, chainEventsSQL, tenantID)
		if err != nil {
			return err
		}
		defer rows.Close()
		var (
			e               chainEvent
			lastSeq         int64
			lastHash        = []byte{}
			broken, problem = int64(0), ""
		)
		for rows.Next() {
			if err := e.scan(rows); err != nil {
				return err
			}
			broken, problem = checkLink(lastSeq, lastHash, &e)
			if broken != 0 {
				break
			}
			res.Events++
			lastSeq, lastHash = e.Seq, e.Hash
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var headSeq int64
		var headHash []byte
		if err := tx.QueryRow(ctx, chainHeadSQL, tenantID).Scan(&headSeq, &headHash); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				res.Problem = "the tenant has no chain head (audit_heads row missing)"
				return nil
			}
			return err
		}
		res.HeadSeq = headSeq
		if broken == 0 {
			broken, problem = checkHead(lastSeq, lastHash, headSeq, headHash)
		}
		res.BrokenSeq, res.Problem, res.OK = broken, problem, broken == 0
		return nil
	})
	return res, err
}

// checkLink checks one event against the one before it (seq 0 and an empty
// hash before the first event).
func checkLink(lastSeq int64, lastHash []byte, e *chainEvent) (int64, string) {
	seq := e.Seq
	switch {
	case seq > lastSeq+1:
		return lastSeq + 1, fmt.Sprintf("event %d is missing (the next event is %d): deleted", lastSeq+1, seq)
	case seq != lastSeq+1:
		return seq, fmt.Sprintf("event %d is out of sequence after %d: inserted out of band", seq, lastSeq)
	case !bytes.Equal(e.PrevHash, lastHash):
		return seq, fmt.Sprintf("event %d does not link to event %d (prev_hash differs): inserted or replaced out of band", seq, lastSeq)
	}
	if !bytes.Equal(chainHash(lastHash, e.canonical()), e.Hash) {
		return seq, fmt.Sprintf("event %d does not match its hash: changed after it was written", seq)
	}
	return 0, ""
}

// checkHead checks the last event against the chain's head, which every
// append updates: it catches events deleted from, or added to, the end.
func checkHead(lastSeq int64, lastHash []byte, headSeq int64, headHash []byte) (int64, string) {
	switch {
	case headSeq > lastSeq:
		return lastSeq + 1, fmt.Sprintf("events %d to %d are missing (the chain head is at %d): deleted", lastSeq+1, headSeq, headSeq)
	case headSeq < lastSeq:
		return headSeq + 1, fmt.Sprintf("event %d is beyond the chain head (%d): inserted out of band", headSeq+1, headSeq)
	case !bytes.Equal(headHash, lastHash):
		return lastSeq, fmt.Sprintf("event %d is not the chain head's (its hash differs): replaced out of band", lastSeq)
	}
	return 0, ""
}

// VerifyAllAuditChains verifies every tenant's chain, one after the other.
func (db *DB) VerifyAllAuditChains(ctx context.Context) ([]VerifyResult, error) {
	tenants, err := db.ListTenants(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]VerifyResult, 0, len(tenants))
	for _, t := range tenants {
		r, err := db.VerifyAuditChain(ctx, t.ID)
		if err != nil {
			return out, fmt.Errorf("verify tenant %s: %w", t.Slug, err)
		}
		r.Slug = t.Slug
		out = append(out, r)
	}
	return out, nil
}
