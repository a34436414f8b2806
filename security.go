package tenantd

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// FlaggedEvent is a flagged audit event of some tenant.
type FlaggedEvent struct {
	TenantSlug string
	AuditEvent
}

// SecurityEvent is a security event that belongs to no verified tenant (an
// unverifiable token, a login to an unknown tenant, an operator's call).
type SecurityEvent struct {
	ID         int64
	OccurredAt time.Time
	Action     string
	Reason     string
	// ClaimedTenantID is what the request claimed, never trusted; nil if none.
	ClaimedTenantID *uuid.UUID
	IP              string
	UserAgent       string
	RequestID       string
}

// PlatformService is the few operations that look across tenants, each
// through a named database function that never turns Row-Level Security
// off: resolving a login's tenant, provisioning, flagging a foreign id,
// and the platform security view (operators only).
type PlatformService interface {
	// TenantBySlug resolves a login's tenant: ENOTFOUND when unknown.
	TenantBySlug(ctx context.Context, slug string) (*Tenant, error)
	ListTenants(ctx context.Context) ([]*Tenant, error)
	CreateTenant(ctx context.Context, n NewTenant, req RequestInfo) (*Tenant, *User, error)
	// IDInOtherTenant answers only whether id (of kind user, workspace,
	// session or tenant) exists in another tenant: to flag a probe.
	IDInOtherTenant(ctx context.Context, s Scope, kind string, id uuid.UUID) (bool, error)
	FlaggedEvents(ctx context.Context, cursor string, limit int) ([]FlaggedEvent, string, error)
	UnattributedSecurityEvents(ctx context.Context, cursor string, limit int) ([]SecurityEvent, string, error)
}
