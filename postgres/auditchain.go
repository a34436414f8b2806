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
// encoding of the event), computed when the sealer chains it
// (app.seal_audit_events, auditseal.go) under a lock on the tenant's
// audit_heads row, which holds the last seq and hash. Verification
// recomputes the chain here, in Go, from the raw columns (auditcanon.go):
// no database function takes part, so a replaced one cannot vouch for a
// changed row. It covers the sealed events; those not sealed yet are
// counted (Unsealed), and nothing vouches for them until they are.

// VerifyResult is the verdict on one tenant's chain.
type VerifyResult struct {
	TenantID uuid.UUID
	Slug     string
	Events   int64  // events checked
	HeadSeq  int64  // the seq the chain's head says is the last
	HeadHash []byte // and its hash
	// Origin is where the chain starts: seq 0, or the last event of a
	// purge of its oldest events (audit_origins).
	Origin tenantd.ChainPoint
	// Checkpoint is the seq of the latest signed checkpoint the chain was
	// held to (0: none).
	Checkpoint int64
	// Unsealed is how many of the tenant's events wait for the sealer: not
	// in the chain yet, so not verified.
	Unsealed int64
	OK       bool
	// BrokenSeq is the first seq whose event was changed, deleted or
	// inserted out of band (0 when OK); Problem says what is wrong there.
	BrokenSeq int64
	Problem   string
}

const chainEventsSQL = `
SELECT ` + chainEventColumns + `
  FROM audit_events
 WHERE tenant_id = $1 AND seq IS NOT NULL AND seq >= $2
 ORDER BY seq`

// The chain's head and origin (none: seq 0), and the events not sealed yet.
const chainEndsSQL = `
SELECT h.seq, h.hash, coalesce(o.seq, 0), coalesce(o.hash, '\x'),
       (SELECT count(*) FROM audit_events e WHERE e.tenant_id = h.tenant_id AND e.seq IS NULL)
  FROM audit_heads h LEFT JOIN audit_origins o ON o.tenant_id = h.tenant_id
 WHERE h.tenant_id = $1`

// VerifyAuditChain recomputes a tenant's hash chain: seqs run from the
// chain's origin (seq 0, or the last purged event) to its head without a
// gap, each prev_hash is the previous event's hash (the first event's is
// the origin's), each hash matches its event, and the last event is the
// chain's head. The chain is also held to
// the points in expect (signed checkpoints, or heads an operator recorded
// elsewhere): it must still hold each point's event with exactly that hash
// (a point at the origin must be the origin; one before it is not checked,
// its event was purged), so a chain whose tail was deleted, whose head was
// reset, or that was rewritten up to its head fails. It reads one snapshot (REPEATABLE READ),
// so concurrent writers never cause a false alarm, and streams the events.
// For operators (`tenantd audit verify`) and the checkpointer.
func (db *DB) VerifyAuditChain(ctx context.Context, tenantID uuid.UUID, expect ...tenantd.ChainPoint) (VerifyResult, error) {
	return db.verifyChain(ctx, tenantID, tenantd.ChainPoint{}, expect)
}

// VerifyAuditChainFrom verifies a chain from the point from on: the event
// at from.Seq must still have from.Hash and match it, and every later event
// must link to it, up to the head; the points in expect are checked as by
// VerifyAuditChain where they fall in that part. Checkpointing uses it to
// extend a signed checkpoint without rereading the whole chain; a from of
// seq 0, or at or before the chain's origin, verifies the whole chain.
func (db *DB) VerifyAuditChainFrom(ctx context.Context, tenantID uuid.UUID, from tenantd.ChainPoint, expect ...tenantd.ChainPoint) (VerifyResult, error) {
	return db.verifyChain(ctx, tenantID, from, expect)
}

func (db *DB) verifyChain(ctx context.Context, tenantID uuid.UUID, from tenantd.ChainPoint, expect []tenantd.ChainPoint) (VerifyResult, error) {
	res := VerifyResult{TenantID: tenantID}
	err := db.InTenant(ctx, tenantd.SystemScope(tenantID, tenantd.RequestInfo{ID: "audit-verify"}), func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`); err != nil {
			return err
		}
		var head, origin tenantd.ChainPoint
		err := tx.QueryRow(ctx, chainEndsSQL, tenantID).Scan(&head.Seq, &head.Hash, &origin.Seq, &origin.Hash, &res.Unsealed)
		if errors.Is(err, pgx.ErrNoRows) {
			res.Problem = "the tenant has no chain head (audit_heads row missing)"
			return nil
		}
		if err != nil {
			return err
		}
		res.HeadSeq, res.HeadHash, res.Origin = head.Seq, head.Hash, origin
		c := chainCheck{last: origin, from: from, expect: expect}
		if !c.start() {
			res.BrokenSeq, res.Problem = c.broken, c.problem
			return nil
		}
		rows, err := tx.Query(ctx, chainEventsSQL, tenantID, max(c.from.Seq, origin.Seq+1))
		if err != nil {
			return err
		}
		defer rows.Close()
		var e chainEvent
		for rows.Next() {
			if err := e.scan(rows); err != nil {
				return err
			}
			if !c.next(&e) {
				break
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		c.end(head)
		res.Events, res.BrokenSeq, res.Problem, res.OK = c.events, c.broken, c.problem, c.broken == 0
		return nil
	})
	return res, err
}

// chainCheck checks a chain's events one at a time, oldest first.
type chainCheck struct {
	last    tenantd.ChainPoint // the last event checked; the origin before the first
	from    tenantd.ChainPoint // seq 0, or the point the events start at
	expect  []tenantd.ChainPoint
	events  int64
	broken  int64
	problem string
}

func (c *chainCheck) fail(seq int64, format string, args ...any) bool {
	c.broken, c.problem = seq, fmt.Sprintf(format, args...)
	return false
}

// start checks the points at or before the origin (c.last, before any
// event); false when one differs. A starting point at or before the
// origin starts at the origin instead.
func (c *chainCheck) start() bool {
	origin := c.last
	for _, p := range append([]tenantd.ChainPoint{c.from}, c.expect...) {
		if p.Seq > 0 && p.Seq == origin.Seq && !bytes.Equal(p.Hash, origin.Hash) {
			return c.fail(origin.Seq, "the chain's origin (event %d, the last purged) is not the one checkpointed (its hash differs): the chain was rewritten", origin.Seq)
		}
	}
	if c.from.Seq <= origin.Seq {
		c.from = tenantd.ChainPoint{}
	}
	return true
}

// next checks one more event; false when the chain is broken there.
func (c *chainCheck) next(e *chainEvent) bool {
	if c.from.Seq > 0 && c.events == 0 {
		// The starting point: checked against itself and the point.
		switch {
		case e.Seq != c.from.Seq:
			return c.fail(c.from.Seq, "event %d, the checkpoint's, is missing: deleted", c.from.Seq)
		case !bytes.Equal(chainHash(e.PrevHash, e.canonical()), e.Hash):
			return c.fail(e.Seq, "event %d does not match its hash: changed after it was written", e.Seq)
		case !bytes.Equal(e.Hash, c.from.Hash):
			return c.fail(e.Seq, "event %d is not the one checkpointed (its hash differs): the chain was rewritten", e.Seq)
		}
	} else if seq, problem := checkLink(c.last.Seq, c.last.Hash, e); seq != 0 {
		return c.fail(seq, "%s", problem)
	}
	for _, p := range c.expect {
		if p.Seq == e.Seq && !bytes.Equal(p.Hash, e.Hash) {
			return c.fail(e.Seq, "event %d is not the one checkpointed (its hash differs): the chain was rewritten", e.Seq)
		}
	}
	c.events++
	c.last = tenantd.ChainPoint{Seq: e.Seq, Hash: e.Hash}
	return true
}

// end checks the last event against the chain's head and the expected
// points beyond it, unless the chain already broke.
func (c *chainCheck) end(head tenantd.ChainPoint) {
	if c.broken != 0 {
		return
	}
	if c.from.Seq > 0 && c.events == 0 {
		if c.from.Seq > head.Seq {
			c.fail(head.Seq+1, "the chain ends at %d but a checkpoint holds event %d: events %d to %d were deleted",
				head.Seq, c.from.Seq, head.Seq+1, c.from.Seq)
		} else {
			c.fail(c.from.Seq, "event %d, the checkpoint's, is missing: deleted", c.from.Seq)
		}
		return
	}
	if seq, problem := checkHead(c.last.Seq, c.last.Hash, head.Seq, head.Hash); seq != 0 {
		c.fail(seq, "%s", problem)
		return
	}
	for _, p := range c.expect {
		if p.Seq > head.Seq {
			c.fail(head.Seq+1, "the chain ends at %d but a checkpoint holds event %d: events %d to %d were deleted",
				head.Seq, p.Seq, head.Seq+1, p.Seq)
			return
		}
	}
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
	tenants, err := db.Platform().ListTenants(ctx)
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
