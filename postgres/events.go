package postgres

import (
	"context"
	"encoding/json"
	"strings"
	"unicode"

	"github.com/tenantd/tenantd"
)

const insertEventSQL = `
INSERT INTO audit_events
    (tenant_id, actor_type, actor_id, action, target_type, target_id, outcome,
     flagged, flag_reason, ip, user_agent, request_id, changes)
VALUES ($1, $2::text, $3, $4::text, $5, $6, $7::text, $8, $9, $10::inet, $11, $12, $13::jsonb)`

// insertPlatformFlagSQL flags the event just inserted by this session,
// the statement before it: currval is this session's last pos.
const insertPlatformFlagSQL = `
INSERT INTO platform_flags (tenant_id, pos, flag_reason)
VALUES ($1, currval('audit_events_pos_seq'), $2)`

// eventStatements are the statements that insert explicit audit events,
// each followed by its platform flag if it has one.
func eventStatements(s tenantd.Scope, events []tenantd.Event) []queued {
	var qs []queued
	for _, e := range events {
		qs = append(qs, eventStatement(s, e))
		if e.PlatformFlag != "" {
			qs = append(qs, queued{sql: insertPlatformFlagSQL, args: []any{s.TenantID, e.PlatformFlag}})
		}
	}
	return qs
}

// eventStatement inserts an explicit audit event. The database assigns its
// time and pos; the sealer its seq and hash (app.seal_audit_events).
func eventStatement(s tenantd.Scope, e tenantd.Event) queued {
	actor := e.Actor
	if actor.Type == "" {
		actor = s.Actor
	}
	if actor.Type == "" {
		actor.Type = tenantd.ActorSystem
	}
	req := e.Request
	if req == (tenantd.RequestInfo{}) {
		req = s.Request
	}
	var ip any
	if req.IP != "" {
		ip = req.IP
	}
	changes := "{}"
	if len(e.Changes) > 0 {
		capped := make(map[string]any, len(e.Changes))
		for k, v := range e.Changes {
			if s, ok := v.(string); ok {
				v = clean(s, maxChangeText) // error messages can quote the client
			}
			capped[k] = v
		}
		if b, err := json.Marshal(capped); err == nil {
			changes = string(b)
		}
	}
	outcome := e.Outcome
	if outcome == "" {
		outcome = tenantd.OutcomeSuccess
	}
	return queued{sql: insertEventSQL, args: []any{s.TenantID, actor.Type, clean(actor.ID, maxActorID), e.Action,
		e.TargetType, clean(e.TargetID, maxTargetID), outcome, e.FlagReason != "", clean(e.FlagReason, 200),
		ip, clean(req.UserAgent, maxUserAgent), clean(req.ID, maxRequestID), changes}}
}

// RecordEvent stores an event in its own transaction, in one round trip:
// for requests that were denied or failed, whose own transaction (if any)
// rolled back.
func (store *Audit) Record(ctx context.Context, s tenantd.Scope, e tenantd.Event) error {
	return store.db.Run(ctx, s, Statement{Events: []tenantd.Event{e}})
}

// The longest client-supplied text an event or a session keeps of each
// request field; the rest is cut (see clean).
const (
	maxUserAgent = 512
	maxRequestID = 128
	maxActorID   = 200
	maxTargetID  = 200
	// maxChangeText caps each text value of an explicit event's changes.
	maxChangeText = 512
)

// clean makes client-supplied text safe to store and to print in a log:
// control characters become U+FFFD, invalid UTF-8 is replaced, and the
// length is capped.
func clean(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "")
	}
	return s
}
