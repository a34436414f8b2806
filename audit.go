package tenantd

import (
	"context"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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
	FlagLimitsChange    = "limits_change"     // a tenant tried to change its own limits, which only operators set
)

// Actor types of audit events.
const (
	ActorUser      = "user"
	ActorOperator  = "operator"
	ActorSystem    = "system"
	ActorAnonymous = "anonymous"
)

// Event is an audit event to record. The database assigns its time and
// position when it is written, and its sequence number and place in the
// tenant's hash chain when the sealer chains it.
type Event struct {
	Action     string // one of Actions, e.g. ActionLoginFailed
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
	TenantID uuid.UUID `json:"tenant_id"`
	// Seq is the event's place in the tenant's hash chain, nil until the
	// sealer has chained it (at most a few seconds after its commit).
	Seq *int64 `json:"seq"`
	// Pos is the order the events were written in, which pages are keyed
	// on; not shown.
	Pos        int64          `json:"-"`
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

// Audit actions: every action an event carries is one of these. A name is
// <resource>.<verb>, both snake_case: the kind of thing the event is about
// and what happened to it, in the past tense (created, denied, exported…).
// The event's outcome agrees with the verb; a refusal is its own verb, so
// filtering on the action alone finds, say, every failed login.
const (
	ActionAccessReviewExported = "access_review.exported"
	ActionAuditExported        = "audit.exported"
	ActionAuditPurged          = "audit.purged"
	ActionAuditQueried         = "audit.queried"
	ActionIntrospectionDenied  = "introspection.denied"
	ActionInvitationAccepted   = "invitation.accepted"
	ActionInvitationCreated    = "invitation.created"
	ActionInvitationDenied     = "invitation.denied"
	ActionLimitExceeded        = "limit.exceeded"
	ActionLoginFailed          = "login.failed"
	ActionLoginSucceeded       = "login.succeeded"
	ActionRateLimitExceeded    = "rate_limit.exceeded"
	ActionRefreshTokenDenied   = "refresh_token.denied"
	ActionRefreshTokenReused   = "refresh_token.reused"
	ActionRefreshTokenRotated  = "refresh_token.rotated"
	ActionRequestDenied        = "request.denied"
	ActionRequestRejected      = "request.rejected"
	ActionSessionRevoked       = "session.revoked"
	ActionSettingsUpdated      = "settings.updated" // written by the settings table's row trigger
	ActionTenantCreated        = "tenant.created"
)

// AuditAction documents one action of the catalogue.
type AuditAction struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// ReplacedBy is set on a former name: events recorded before the
	// catalogue carry it (the hash chain covers the action, so they keep
	// it), and it is never written any more.
	ReplacedBy string `json:"replaced_by,omitempty"`
}

// Actions is the catalogue of audit actions, served at GET
// /v1/audit-actions and listed as the AuditAction enum of the OpenAPI
// document (a test holds the two together). The actions the database's
// row triggers write (app.audit_row: <table's resource>.created, .updated,
// .deleted, .deactivated) are here too.
var Actions = []AuditAction{
	{ActionAccessReviewExported, "An owner or admin read the access review (JSON or CSV).", ""},
	{ActionAuditExported, "The audit log was exported; failed when the export was cut short (changes.events says how many went out).", ""},
	{ActionAuditPurged, "Events older than the tenant's audit retention were deleted; the chain now starts after them.", ""},
	{ActionAuditQueried, "A page of the audit log was read; changes holds the filter.", ""},
	{ActionIntrospectionDenied, "A token of another tenant was presented for introspection (flagged tenant_mismatch).", ""},
	{ActionInvitationAccepted, "An invitee accepted an invitation and chose a password.", ""},
	{ActionInvitationCreated, "A user was invited; the invitation token is shown once.", ""},
	{ActionInvitationDenied, "An invitation could not be accepted: wrong secret, expired, already used, or the user is no longer invited.", ""},
	{ActionLimitExceeded, "A request was refused by a plan limit (409; changes.limit names it).", ""},
	{ActionLoginFailed, "A login failed (wrong password, unknown or disabled user, throttled); flagged login_failures when repeated.", ""},
	{ActionLoginSucceeded, "A user logged in: a session started.", ""},
	{ActionRateLimitExceeded, "A request was refused by the tenant's rate limit (429).", ""},
	{ActionRefreshTokenDenied, "A refresh token of a revoked or expired session, or of an inactive user or tenant, was refused.", ""},
	{ActionRefreshTokenReused, "A refresh token that was already rotated out was presented again: its session is revoked (flagged refresh_reuse).", ""},
	{ActionRefreshTokenRotated, "A refresh token was exchanged for new tokens.", ""},
	{ActionRequestDenied, "A request was refused: no valid token for this tenant (401), not allowed (403), or an id it named does not exist for the tenant (404); changes say why.", ""},
	{ActionRequestRejected, "A request was invalid: malformed (400), too large (413) or failing validation (422).", ""},
	{ActionSessionRevoked, "A session was ended by its user (logout).", ""},
	{ActionTenantCreated, "The tenant was created, with its first owner.", ""},
	{ActionSettingsUpdated, "The tenant's settings changed (PATCH /v1/tenant/settings): changes holds the old and new value of every setting that changed; the settings history.", ""},
	{"tenant.updated", "The tenant's name, plan, status, limits or features changed (changes holds old and new values).", ""},
	{"user.created", "A user was added (with a password, or invited).", ""},
	{"user.deactivated", "A user was deactivated: their sessions are revoked, their history kept.", ""},
	{"user.updated", "A user's role, status, email or password changed (a password only as {\"changed\": true}).", ""},
	{"workspace.created", "A workspace was created.", ""},
	{"workspace.deleted", "A workspace was deleted.", ""},
	{"workspace.updated", "A workspace was renamed or redescribed.", ""},
	{"workspace_member.created", "A user was given a role in a workspace.", ""},
	{"workspace_member.deleted", "A user was removed from a workspace.", ""},
	{"workspace_member.updated", "A workspace member's role changed.", ""},

	{"access.denied", "Former name of request.denied (403).", ActionRequestDenied},
	{"access.not_found", "Former name of request.denied (404 for an id the caller named).", ActionRequestDenied},
	{"access.foreign_id", "Former name of request.denied (404 for another tenant's id, flagged foreign_id).", ActionRequestDenied},
	{"auth.introspect.denied", "Former name of introspection.denied.", ActionIntrospectionDenied},
	{"auth.login.failed", "Former name of login.failed.", ActionLoginFailed},
	{"auth.login.succeeded", "Former name of login.succeeded.", ActionLoginSucceeded},
	{"auth.logout", "Former name of session.revoked.", ActionSessionRevoked},
	{"auth.refresh.denied", "Former name of refresh_token.denied.", ActionRefreshTokenDenied},
	{"auth.refresh.reused", "Former name of refresh_token.reused.", ActionRefreshTokenReused},
	{"auth.refresh.succeeded", "Former name of refresh_token.rotated.", ActionRefreshTokenRotated},
	{"auth.request.forbidden", "Former name of request.denied (403 in the request flow).", ActionRequestDenied},
	{"auth.request.unauthorized", "Former name of request.denied (401).", ActionRequestDenied},
	{"invitation.accept_denied", "Former name of invitation.denied.", ActionInvitationDenied},
	{"request.invalid", "Former name of request.rejected.", ActionRequestRejected},
}

// IsAction reports whether name is an action of the catalogue, current or
// former (former names remain in events recorded before the catalogue).
func IsAction(name string) bool {
	for _, a := range Actions {
		if a.Name == name {
			return true
		}
	}
	return false
}

// IsActionPrefix reports whether some action of the catalogue starts with
// prefix (a filter such as "login." from "login.*").
func IsActionPrefix(prefix string) bool {
	for _, a := range Actions {
		if strings.HasPrefix(a.Name, prefix) {
			return true
		}
	}
	return false
}

// AuditFilter selects audit events. Empty fields do not filter.
type AuditFilter struct {
	// Action is an action of Actions ("login.failed") or a prefix ending
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
// The cursor is checked by the store that issued it.
func (f *AuditFilter) Validate() error {
	bad := func(format string, args ...any) error { return Errorf(EBADREQUEST, format, args...) }
	if f.Action != "" && (len(f.Action) > 200 || !actionFilter.MatchString(f.Action)) {
		return bad(`Parameter "action" must be a dotted action such as login.failed, or a prefix such as login.*.`)
	}
	if prefix, ok := strings.CutSuffix(f.Action, "*"); ok && !IsActionPrefix(prefix) ||
		!ok && f.Action != "" && !IsAction(f.Action) {
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
	if _, err := PageSize(f.Limit); err != nil {
		return err
	}
	return nil // the cursor is opaque: the store that made it checks it
}

func printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0
}

// AuditService reads and records a tenant's audit log. List and Export are
// for owners and admins (the handler checks; RLS scopes) and are
// themselves recorded in the same transaction. Record writes an explicit
// event (a denied or invalid request) in a transaction of its own.
// Errors: EBADREQUEST for a bad filter or cursor.
type AuditService interface {
	// List returns one page, newest first.
	List(ctx context.Context, s Scope, f AuditFilter) (items []AuditEvent, next string, err error)
	// Export streams every matching event, oldest first (the chain's order).
	Export(ctx context.Context, s Scope, f AuditFilter, each func(AuditEvent) error) error
	Record(ctx context.Context, s Scope, e Event) error
}
