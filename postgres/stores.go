package postgres

import "github.com/tenantd/tenantd"

// The stores: one per domain, each a thin handle on the door. A store's
// methods are the only SQL of their domain; none reaches a pool or sets
// the tenant context itself (TestOneDoor checks). The HTTP layer sees them
// through the interfaces of the root package.

// Users is the tenant's user accounts and invitations (org_users.go).
type Users struct{ db *DB }

// Workspaces is the tenant's workspaces and their members
// (org_workspaces.go).
type Workspaces struct{ db *DB }

// Audit is reading, exporting and recording a tenant's audit events
// (audit.go, events.go).
type Audit struct{ db *DB }

// Organisation is a tenant's usage of its limits and its access review
// (org_review.go).
type Organisation struct{ db *DB }

// Identity is logins, sessions and the request principal (identity.go).
type Identity struct{ db *DB }

// Idempotency is the Idempotency-Key store (idempotency.go).
type Idempotency struct{ db *DB }

// Settings is the tenant's settings and its configuration: plan, limits
// and features (settings.go).
type Settings struct{ db *DB }

// Platform is the few operations that look across tenants, each through a
// named SECURITY DEFINER function (platform.go, securityview.go).
type Platform struct{ db *DB }

// TenantAdmin is operators' management of tenants: plans, limit and flag
// overrides, suspension (tenantadmin.go).
type TenantAdmin struct{ db *DB }

func (db *DB) Users() *Users               { return &Users{db} }
func (db *DB) Workspaces() *Workspaces     { return &Workspaces{db} }
func (db *DB) Audit() *Audit               { return &Audit{db} }
func (db *DB) Organisation() *Organisation { return &Organisation{db} }
func (db *DB) Identity() *Identity         { return &Identity{db} }
func (db *DB) Idempotency() *Idempotency   { return &Idempotency{db} }
func (db *DB) Platform() *Platform         { return &Platform{db} }
func (db *DB) TenantAdmin() *TenantAdmin   { return &TenantAdmin{db} }
func (db *DB) Settings() *Settings         { return &Settings{db} }

// Each store is what the HTTP layer asks for, through the root package's
// interfaces.
var (
	_ tenantd.UserService         = (*Users)(nil)
	_ tenantd.WorkspaceService    = (*Workspaces)(nil)
	_ tenantd.AuditService        = (*Audit)(nil)
	_ tenantd.OrganisationService = (*Organisation)(nil)
	_ tenantd.IdentityService     = (*Identity)(nil)
	_ tenantd.IdempotencyService  = (*Idempotency)(nil)
	_ tenantd.PlatformService     = (*Platform)(nil)
	_ tenantd.TenantAdminService  = (*TenantAdmin)(nil)
	_ tenantd.SettingsService     = (*Settings)(nil)
)

// Stores returns every store, for the HTTP layer.
func (db *DB) Stores() tenantd.Stores {
	return tenantd.Stores{Users: db.Users(), Workspaces: db.Workspaces(), Audit: db.Audit(),
		Organisation: db.Organisation(), Identity: db.Identity(), Idempotency: db.Idempotency(),
		Platform: db.Platform(), TenantAdmin: db.TenantAdmin(), Settings: db.Settings(), Health: db}
}
