package postgres_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/postgres"
)

func operatorScope(tenant uuid.UUID) tenantd.Scope {
	return tenantd.OperatorScope(tenant, "op-1", tenantd.RequestInfo{ID: "test"})
}

// Only an operator's scope of the tenant itself changes a tenant's plan,
// limits, flags or status: the tenant's own owner, the server's other
// work, and an operator scope of another tenant are all refused by the
// database, whatever the caller.
func TestOperatorChangesOnlyInAnOperatorScope(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	tenant, owner := newTenant(t, env.DB, "pro")
	other, _ := newTenant(t, env.DB, "pro")
	ownerScope := tenantd.Scope{TenantID: tenant, UserID: owner, Role: tenantd.RoleOwner,
		Actor: tenantd.Actor{Type: tenantd.ActorUser, ID: owner.String()}}
	calls := map[string]string{
		"plan":    `SELECT app.set_tenant_plan($1, 'enterprise')`,
		"limits":  `SELECT app.patch_tenant_limits($1, '{"max_users": 1000}')`,
		"feature": `SELECT app.set_tenant_feature($1, 'custom_branding', 'true')`,
		"status":  `SELECT app.set_tenant_status($1, 'suspended')`,
		"column":  `UPDATE tenants SET plan = 'enterprise' WHERE id = $1`,
	}
	for name, sql := range calls {
		for who, s := range map[string]tenantd.Scope{
			"the owner":              ownerScope,
			"the server":             system(tenant),
			"an operator of another": operatorScope(other),
		} {
			err := env.DB.Run(ctx, s, postgres.Statement{SQL: sql, Args: []any{tenant}})
			if tenantd.ErrorCode(err) != tenantd.EFORBIDDEN {
				t.Errorf("%s as %s: %v, want forbidden", name, who, err)
			}
		}
	}
	m, err := env.DB.TenantAdmin().Get(ctx, operatorScope(tenant))
	if err != nil {
		t.Fatal(err)
	}
	if m.Plan != "pro" || m.Status != tenantd.TenantActive || len(m.Overrides.Limits) != 0 || len(m.Overrides.Features) != 0 {
		t.Fatalf("the tenant changed: %+v", m)
	}
}

// Each operator change is one tenant.updated event in the tenant's own log,
// with the operator as actor and the old and new values; a change that
// changes nothing records nothing.
func TestOperatorChangesAreAudited(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	tenant, _ := newTenant(t, env.DB, "pro")
	admin := env.DB.TenantAdmin()
	s := operatorScope(tenant)

	m, err := admin.SetPlan(ctx, s, "enterprise")
	if err != nil || m.Plan != "enterprise" {
		t.Fatalf("set plan: %+v %v", m, err)
	}
	if _, err := admin.SetPlan(ctx, s, "enterprise"); err != nil {
		t.Fatal(err)
	}
	seven := 7
	if m, err = admin.PatchLimits(ctx, s, map[string]*int{"max_users": &seven}); err != nil || m.Overrides.Limits["max_users"] != 7 {
		t.Fatalf("patch limits: %+v %v", m, err)
	}
	if m, err = admin.PatchLimits(ctx, s, map[string]*int{"max_users": nil}); err != nil || len(m.Overrides.Limits) != 0 {
		t.Fatalf("remove a limit override: %+v %v", m, err)
	}
	if m, err = admin.SetFeature(ctx, s, "custom_branding", json.RawMessage(`false`)); err != nil || string(m.Overrides.Features["custom_branding"]) != "false" {
		t.Fatalf("set feature: %+v %v", m, err)
	}
	if m, err = admin.SetFeature(ctx, s, "custom_branding", nil); err != nil || len(m.Overrides.Features) != 0 {
		t.Fatalf("unset feature: %+v %v", m, err)
	}

	rows, err := adminConn(t, env).Query(ctx, `
SELECT actor_type, actor_id, changes FROM audit_events
 WHERE tenant_id = $1 AND action = 'tenant.updated' ORDER BY seq`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]map[string]any
	for rows.Next() {
		var actorType, actorID string
		var changes map[string]map[string]any
		if err := rows.Scan(&actorType, &actorID, &changes); err != nil {
			t.Fatal(err)
		}
		if actorType != tenantd.ActorOperator || actorID != "op-1" {
			t.Errorf("event by %s %q, want the operator", actorType, actorID)
		}
		got = append(got, changes)
	}
	if len(got) != 5 {
		t.Fatalf("%d tenant.updated events, want 5 (the repeated plan changes nothing): %v", len(got), got)
	}
	if c := got[0]["plan"]; c["old"] != "pro" || c["new"] != "enterprise" || len(got[0]) != 1 {
		t.Errorf("plan change recorded as %v", got[0])
	}
	if c := got[1]["limits"]; c["new"].(map[string]any)["max_users"] != float64(7) {
		t.Errorf("limit change recorded as %v", got[1])
	}
}

// Suspending ends every live session of the tenant at once, and of that
// tenant only; resuming brings none of them back.
func TestSuspendEndsEverySession(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	tenant, owner := newTenant(t, env.DB, "pro")
	other, otherOwner := newTenant(t, env.DB, "pro")
	req := tenantd.RequestInfo{ID: "test"}
	var sessions []uuid.UUID
	for range 3 {
		sid, err := env.DB.Identity().CreateSession(ctx, tenant, owner, []byte("h"), time.Now().Add(time.Hour), req)
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, sid)
	}
	otherSession, err := env.DB.Identity().CreateSession(ctx, other, otherOwner, []byte("h"), time.Now().Add(time.Hour), req)
	if err != nil {
		t.Fatal(err)
	}

	m, err := env.DB.TenantAdmin().SetStatus(ctx, operatorScope(tenant), tenantd.TenantSuspended)
	if err != nil || m.Status != tenantd.TenantSuspended {
		t.Fatalf("suspend: %+v %v", m, err)
	}
	live := func(tn, user, sid uuid.UUID) bool {
		st, err := env.DB.Identity().LoadPrincipal(ctx, tn, user, sid, req)
		if err != nil {
			t.Fatal(err)
		}
		return st.SessionLive
	}
	for _, sid := range sessions {
		if live(tenant, owner, sid) {
			t.Errorf("session %s is live after the suspension", sid)
		}
	}
	if !live(other, otherOwner, otherSession) {
		t.Error("another tenant's session ended with the suspension")
	}
	if m, err = env.DB.TenantAdmin().SetStatus(ctx, operatorScope(tenant), tenantd.TenantActive); err != nil || m.Status != tenantd.TenantActive {
		t.Fatalf("resume: %+v %v", m, err)
	}
	if live(tenant, owner, sessions[0]) {
		t.Error("a session ended by the suspension is live again after the resume")
	}
}

// The operators' list pages through every tenant by slug, filtered.
func TestListTenantsPagesAndFilters(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	var free []uuid.UUID
	for range 5 {
		id, _ := newTenant(t, env.DB, "free")
		free = append(free, id)
	}
	newTenant(t, env.DB, "pro")
	if _, err := env.DB.TenantAdmin().SetStatus(ctx, operatorScope(free[0]), tenantd.TenantSuspended); err != nil {
		t.Fatal(err)
	}
	var seen []tenantd.Tenant
	cursor := ""
	for {
		page, next, err := env.DB.TenantAdmin().List(ctx, tenantd.TenantFilter{Plan: "free", Page: tenantd.Page{Limit: 2, Cursor: cursor}})
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 5 {
		t.Fatalf("%d free tenants listed, want 5", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i-1].Slug >= seen[i].Slug {
			t.Errorf("not in slug order: %s before %s", seen[i-1].Slug, seen[i].Slug)
		}
	}
	suspended, _, err := env.DB.TenantAdmin().List(ctx, tenantd.TenantFilter{Status: tenantd.TenantSuspended})
	if err != nil || len(suspended) != 1 || suspended[0].ID != free[0] {
		t.Fatalf("suspended tenants: %+v %v", suspended, err)
	}
	for _, f := range []tenantd.TenantFilter{{Plan: "gold"}, {Status: "gone"}, {Region: "US"}, {Page: tenantd.Page{Cursor: "nope"}}} {
		if _, _, err := env.DB.TenantAdmin().List(ctx, f); tenantd.ErrorCode(err) != tenantd.EBADREQUEST {
			t.Errorf("filter %+v: %v, want bad request", f, err)
		}
	}
}
