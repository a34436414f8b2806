package postgres

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// What the database tests (package postgres_test) need of the internals.

// InetText is inetText.
func InetText(p netip.Prefix) string { return inetText(p) }

// GoldenVector is a golden vector of the canonical encoding with its event
// as a record for jsonb_populate_record(NULL::audit_events, …).
type GoldenVector struct {
	Row       json.RawMessage
	PrevHash  []byte
	Canonical string
	Hash      string
}

func GoldenVectors() []GoldenVector {
	var out []GoldenVector
	for _, g := range goldenEvents {
		e := g.Event
		var ip any
		if e.IP.IsValid() {
			ip = inetText(e.IP)
		}
		row, err := json.Marshal(map[string]any{
			"tenant_id": e.TenantID, "seq": e.Seq, "id": e.ID, "occurred_at": e.OccurredAt.Format(time.RFC3339Nano),
			"actor_type": e.ActorType, "actor_id": e.ActorID, "action": e.Action, "target_type": e.TargetType,
			"target_id": e.TargetID, "outcome": e.Outcome, "flagged": e.Flagged, "flag_reason": e.FlagReason,
			"ip": ip, "user_agent": e.UserAgent, "request_id": e.RequestID, "changes": json.RawMessage(e.Changes),
		})
		if err != nil {
			panic(err)
		}
		out = append(out, GoldenVector{Row: row, PrevHash: e.PrevHash, Canonical: g.Canonical, Hash: g.Hash})
	}
	return out
}

// GoCanonical is the Go encoding of each of a tenant's events, by seq.
func (db *DB) GoCanonical(ctx context.Context, tenantID uuid.UUID) (map[int64]string, error) {
	out := map[int64]string{}
	err := db.InTenant(ctx, tenantd.SystemScope(tenantID, tenantd.RequestInfo{ID: "audit-verify"}), func(tx *Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+chainEventColumns+` FROM audit_events WHERE tenant_id = $1`, tenantID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e chainEvent
			if err := e.scan(rows); err != nil {
				return err
			}
			out[e.Seq] = string(e.canonical())
		}
		return rows.Err()
	})
	return out, err
}

// HasConjunct is hasConjunct.
func HasConjunct(expr, want string) bool { return hasConjunct(expr, want) }
