package tenantd

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// OperatorScope is the scope of the server acting for a platform operator
// in one tenant (changing its plan, limits, flags or status): the server's
// role in the tenant's own context, with the operator as the actor of
// every event. The database refuses those changes in any other scope.
func OperatorScope(tenant uuid.UUID, operator string, r RequestInfo) Scope {
	return Scope{TenantID: tenant, Role: RoleSystem, Actor: Actor{Type: ActorOperator, ID: operator}, Request: r}
}

// TenantStatuses are the statuses a tenant can have.
var TenantStatuses = []string{TenantActive, TenantSuspended}

var regionPattern = regexp.MustCompile(`^[a-z]{2,8}$`)

// TenantFilter selects the tenants an operator lists; empty fields do not
// filter.
type TenantFilter struct {
	Plan   string
	Status string
	Region string
	Page
}

// Validate checks a filter: EBADREQUEST naming the first bad parameter.
// The cursor is checked by the store that issued it.
func (f *TenantFilter) Validate() error {
	switch {
	case f.Plan != "" && !slices.Contains(PlanNames(), f.Plan):
		return Errorf(EBADREQUEST, `Parameter "plan" must be one of %s.`, strings.Join(PlanNames(), ", "))
	case f.Status != "" && !slices.Contains(TenantStatuses, f.Status):
		return Errorf(EBADREQUEST, `Parameter "status" must be active or suspended.`)
	case f.Region != "" && !regionPattern.MatchString(f.Region):
		return Errorf(EBADREQUEST, `Parameter "region" must be 2 to 8 lowercase letters.`)
	}
	_, err := PageSize(f.Limit)
	return err
}

// ManagedTenant is a tenant as an operator manages it: its configuration
// (its plan's limits and features overlaid with the operator's overrides)
// and its usage of the limits.
type ManagedTenant struct {
	Tenant
	UpdatedAt time.Time
	Overrides Overrides
	Config    Configuration
	Usage     Usage
}

// MarshalJSON writes the tenant as the operator routes and `tenantd tenant
// show --json` show it: every limit and feature with its value and source,
// and the usage counters against the limits the database enforces.
func (m ManagedTenant) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Tenant
		UpdatedAt time.Time      `json:"updated_at"`
		Limits    []LimitValue   `json:"limits"`
		Features  []FeatureValue `json:"features"`
		Usage     Usage          `json:"usage"`
	}{m.Tenant, m.UpdatedAt, m.Config.LimitList(), m.Config.FeatureList(), m.Usage})
}

// LimitsPatch changes a tenant's limit overrides as a JSON merge patch (RFC
// 7396): a limit given a number overrides its plan's; given null, it loses
// its override and the plan's applies again; absent, it stays as it is.
// Each field holds the JSON as sent (empty when absent).
type LimitsPatch struct {
	MaxWorkspaces      json.RawMessage `json:"max_workspaces"`
	MaxUsers           json.RawMessage `json:"max_users"`
	EmailSendsPerMonth json.RawMessage `json:"email_sends_per_month"`
}

// Changes validates the patch and returns it as limit name → new override
// (nil: remove the override). EINVALID lists every bad field; an empty
// patch is EINVALID too. A limit below the tenant's usage is allowed.
func (p LimitsPatch) Changes() (map[string]*int, error) {
	out := map[string]*int{}
	var fields []FieldError
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{LimitMaxWorkspaces, p.MaxWorkspaces}, {LimitMaxUsers, p.MaxUsers}, {LimitEmailSendsPerMonth, p.EmailSendsPerMonth}} {
		switch {
		case len(f.raw) == 0:
			continue
		case string(f.raw) == "null":
			out[f.name] = nil
			continue
		}
		n, err := strconv.Atoi(string(f.raw))
		if err == nil {
			err = ValidateLimit(f.name, n)
		}
		if err != nil {
			fields = append(fields, FieldError{Pointer: "/" + f.name,
				Detail: fmt.Sprintf("must be an integer from 0 to %d, or null to remove the override", MaxLimit)})
			continue
		}
		out[f.name] = &n
	}
	if len(fields) == 0 && len(out) == 0 {
		fields = append(fields, FieldError{Pointer: "", Detail: "must change at least one of " + strings.Join(LimitNames, ", ")})
	}
	if err := Invalid(fields...); err != nil {
		return nil, err
	}
	return out, nil
}

// TenantAdminService is how platform operators manage tenants: the
// operator routes (/v1/admin/tenants…) and `tenantd tenant …`. Only
// operators call it: the operator flow checks their token, and the
// database refuses a change made in any scope but an OperatorScope of the
// tenant itself. Listing looks across tenants through one named database
// function; everything else runs in the tenant's own context, and every
// change is recorded in the tenant's audit log (tenant.updated) with the
// operator as actor. Errors: ENOTFOUND for an unknown tenant, EBADREQUEST
// for a bad filter or cursor, EINVALID for a bad plan, limit or flag.
type TenantAdminService interface {
	// List returns one page of tenants, by slug.
	List(ctx context.Context, f TenantFilter) (items []Tenant, next string, err error)
	// Get returns the scope's tenant.
	Get(ctx context.Context, s Scope) (*ManagedTenant, error)
	// SetPlan moves the tenant to another plan. A plan whose limits are
	// below the tenant's usage keeps every existing row and refuses new
	// ones (ELIMIT) until usage is back under the limit.
	SetPlan(ctx context.Context, s Scope, plan string) (*ManagedTenant, error)
	// PatchLimits changes limit overrides (nil removes one).
	PatchLimits(ctx context.Context, s Scope, changes map[string]*int) (*ManagedTenant, error)
	// SetFeature sets a flag's override; a nil value removes it.
	SetFeature(ctx context.Context, s Scope, name string, value json.RawMessage) (*ManagedTenant, error)
	// SetStatus suspends or resumes the tenant. Suspending ends every
	// session of the tenant in the same transaction; logins are refused
	// while it lasts.
	SetStatus(ctx context.Context, s Scope, status string) (*ManagedTenant, error)
}
