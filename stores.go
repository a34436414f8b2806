package tenantd

import "context"

// Stores are the services the API stands on, one per domain. Package
// postgres provides them all (postgres.DB.Stores); each runs every call
// through its one door to tenant data.
type Stores struct {
	Users        UserService
	Workspaces   WorkspaceService
	Audit        AuditService
	Organisation OrganisationService
	Identity     IdentityService
	Idempotency  IdempotencyService
	Platform     PlatformService
	TenantAdmin  TenantAdminService
	Settings     SettingsService
	// Health says whether every database is reachable (readiness).
	Health interface {
		Ping(ctx context.Context) error
	}
}
