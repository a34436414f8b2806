package tenantd

import (
	"time"

	"github.com/google/uuid"
)

// Audit outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeDenied  = "denied"
	OutcomeFailed  = "failed"
)

// Flag reasons: why an event is a suspected cross-tenant or abuse attempt.
const (
	FlagTenantMismatch  = "tenant_mismatch"   // the request named another tenant
	FlagForeignID       = "foreign_id"        // an id that belongs to another tenant
	FlagTokenUserTenant = "token_user_tenant" // a validly signed token whose user is not in its tenant
	FlagRefreshReuse    = "refresh_reuse"     // an already-used refresh token
	FlagLoginFailures   = "login_failures"    // repeated login failures
)

// Event is an audit event to record. The database assigns its sequence
// number, time and place in the tenant's hash chain.
type Event struct {
	Action     string // dotted, e.g. "auth.login.failed"
	Actor      Actor  // defaults to the scope's actor
	TargetType string
	TargetID   string
	Outcome    string // defaults to success
	FlagReason string // non-empty flags the event
	// PlatformFlag flags the event for the platform's security view only:
	// the tenant's own log keeps it unflagged. For a flag that would tell
	// the tenant's admins something about another tenant (FlagForeignID).
	PlatformFlag string
	Changes      map[string]any
	Request      RequestInfo // defaults to the scope's request
}

// AuditEvent is a recorded event as tenant admins read it.
type AuditEvent struct {
	TenantID   uuid.UUID      `json:"tenant_id"`
	Seq        int64          `json:"seq"`
	ID         uuid.UUID      `json:"id"`
	OccurredAt time.Time      `json:"occurred_at"`
	Actor      Actor          `json:"actor"`
	Action     string         `json:"action"`
	Target     Target         `json:"target"`
	Outcome    string         `json:"outcome"`
	Flagged    bool           `json:"flagged"`
	FlagReason string         `json:"flag_reason,omitempty"`
	IP         string         `json:"ip,omitempty"`
	UserAgent  string         `json:"user_agent,omitempty"`
	RequestID  string         `json:"request_id,omitempty"`
	Changes    map[string]any `json:"changes"`
}

// Target is what an event acted on.
type Target struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}
