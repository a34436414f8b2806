package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/postgres"
)

// The session guard sees every change of what the server caches about a
// session in the very next transaction: a scope read before the change is
// refused (ErrStaleScope) and runs nothing, whoever made the change and
// however (through the door, or an operator's SQL); a scope read after it
// runs, unless the session is over. A
// change that concerns another user leaves the scope alone.
func TestSessionGuardSeesEveryChange(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	db := env.DB
	admin := adminConn(t, env)
	tenant, _ := newTenant(t, db, "pro")
	ws := createWorkspace(t, db, tenant, "W")
	n := 0
	signIn := func(role string) (uuid.UUID, uuid.UUID) {
		n++
		u, err := db.Users().Create(ctx, system(tenant), fmt.Sprintf("user%d@example.com", n), role, "x")
		if err != nil {
			t.Fatal(err)
		}
		session, err := db.Identity().CreateSession(ctx, tenant, u.ID, []byte("h"), time.Now().Add(time.Hour), tenantd.RequestInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return u.ID, session
	}
	scopeOf := func(user, session uuid.UUID) (tenantd.Scope, bool) {
		st, err := db.Identity().LoadPrincipal(ctx, tenant, user, session, tenantd.RequestInfo{})
		if err != nil {
			t.Fatal(err)
		}
		live := st.SessionLive && st.UserStatus == tenantd.UserActive && st.TenantStatus == tenantd.TenantActive
		return tenantd.ScopeFor(st.Principal, tenantd.RequestInfo{ID: "test"}), live
	}
	// read reports whether a statement ran under s.
	read := func(s tenantd.Scope) (bool, error) {
		ran := false
		err := db.Run(ctx, s, postgres.Statement{SQL: `SELECT 1`, Scan: func(pgx.Rows) error { ran = true; return nil }})
		return ran, err
	}
	// sql runs q as the superuser in the tenant's context (the usage
	// counters' triggers want one), $1 the tenant, $2 the user, $3 the
	// session.
	sql := func(q string) func(user, session uuid.UUID) error {
		return func(user, session uuid.UUID) error {
			return pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "SET LOCAL app.context = '"+tenant.String()+"'"); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, q, tenant, user, session)
				return err
			})
		}
	}
	member := func(role string) func(user, _ uuid.UUID) error {
		return func(user, _ uuid.UUID) error {
			_, _, err := db.Workspaces().PutMember(ctx, system(tenant), ws, user, role)
			return err
		}
	}
	for _, c := range []struct {
		name   string
		role   string
		before func(user, session uuid.UUID) error // not a change: the scope is read after it
		change func(user, session uuid.UUID) error
		live   bool // the session goes on, with a fresh scope
	}{
		{name: "logout", role: tenantd.RoleAdmin, change: func(_, session uuid.UUID) error {
			return db.Identity().RevokeSession(ctx, system(tenant), session, "logout")
		}},
		{name: "session expired", role: tenantd.RoleAdmin,
			change: sql(`UPDATE sessions SET expires_at = now() - interval '1 second' WHERE tenant_id = $1 AND user_id = $2 AND id = $3`)},
		{name: "user disabled", role: tenantd.RoleAdmin,
			change: sql(`UPDATE users SET status = 'disabled' WHERE tenant_id = $1 AND id = $2 AND $3::uuid IS NOT NULL`)},
		{name: "demoted", role: tenantd.RoleAdmin, live: true,
			change: sql(`UPDATE users SET role = 'member' WHERE tenant_id = $1 AND id = $2 AND $3::uuid IS NOT NULL`)},
		{name: "promoted through the door", role: tenantd.RoleMember, live: true,
			change: func(user, _ uuid.UUID) error {
				_, _, err := db.Users().Update(ctx, system(tenant), user, tenantd.UserPatch{Role: &[]string{tenantd.RoleAdmin}[0]},
					func(tenantd.User) error { return nil })
				return err
			}},
		{name: "membership added", role: tenantd.RoleMember, live: true, change: member(tenantd.WorkspaceViewer)},
		{name: "membership role changed", role: tenantd.RoleMember, live: true,
			before: member(tenantd.WorkspaceViewer), change: member(tenantd.WorkspaceManager)},
		{name: "membership removed", role: tenantd.RoleMember, live: true,
			before: member(tenantd.WorkspaceEditor), change: func(user, _ uuid.UUID) error {
				return db.Workspaces().DeleteMember(ctx, system(tenant), ws, user)
			}},
	} {
		user, session := signIn(c.role)
		if c.before != nil {
			if err := c.before(user, session); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
		}
		stale, _ := scopeOf(user, session)
		if ran, err := read(stale); !ran || err != nil {
			t.Fatalf("%s: before the change: ran %v, %v", c.name, ran, err)
		}
		// Another user's session changes in the same way: no effect here.
		if c.live {
			otherUser, otherSession := signIn(c.role)
			if c.before != nil {
				if err := c.before(otherUser, otherSession); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
			}
			if err := c.change(otherUser, otherSession); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if ran, err := read(stale); !ran || err != nil {
				t.Errorf("%s of another user: ran %v, %v", c.name, ran, err)
			}
		}
		if err := c.change(user, session); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if ran, err := read(stale); ran || !errors.Is(err, tenantd.ErrStaleScope) {
			t.Errorf("%s: the scope read before it: ran %v, %v; want ErrStaleScope", c.name, ran, err)
		}
		fresh, live := scopeOf(user, session)
		if live != c.live {
			t.Errorf("%s: session live %v after it, want %v", c.name, live, c.live)
		}
		if live {
			if ran, err := read(fresh); !ran || err != nil {
				t.Errorf("%s: the scope read after it: ran %v, %v", c.name, ran, err)
			}
		}
	}

	// The tenant's configuration (its plan, an operator's limit or feature
	// override, the plan's catalogue entry), which the server caches with
	// the principal: every session of the tenant sees the change in its
	// next transaction, and goes on with a fresh scope; a tenant on
	// another plan is left alone.
	other, otherOwner := newTenant(t, db, "free")
	otherSession, err := db.Identity().CreateSession(ctx, other, otherOwner, []byte("h"), time.Now().Add(time.Hour), tenantd.RequestInfo{})
	if err != nil {
		t.Fatal(err)
	}
	otherStale, err := db.Identity().LoadPrincipal(ctx, other, otherOwner, otherSession, tenantd.RequestInfo{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, sql string }{
		{"limit override", `UPDATE tenants SET limits = limits || '{"max_users": 200}' WHERE id = $1 AND $2::uuid IS NOT NULL AND $3::uuid IS NOT NULL`},
		{"feature override", `UPDATE tenants SET features = features || '{"api_rate_limit": {"rate": 5, "period_seconds": 1, "burst": 5}}' WHERE id = $1 AND $2::uuid IS NOT NULL AND $3::uuid IS NOT NULL`},
		{"plan changed", `UPDATE tenants SET plan = 'enterprise' WHERE id = $1 AND $2::uuid IS NOT NULL AND $3::uuid IS NOT NULL`},
		{"the plan's catalogue entry changed", `UPDATE plans SET limits = limits || '{"max_users": 1000}' WHERE name = (SELECT plan FROM tenants WHERE id = $1) AND $2::uuid IS NOT NULL AND $3::uuid IS NOT NULL`},
	} {
		user, session := signIn(tenantd.RoleMember)
		stale, _ := scopeOf(user, session)
		if err := sql(c.sql)(user, session); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if ran, err := read(stale); ran || !errors.Is(err, tenantd.ErrStaleScope) {
			t.Errorf("%s: the scope read before it: ran %v, %v; want ErrStaleScope", c.name, ran, err)
		}
		if fresh, live := scopeOf(user, session); !live {
			t.Errorf("%s: the session ended", c.name)
		} else if ran, err := read(fresh); !ran || err != nil {
			t.Errorf("%s: the scope read after it: ran %v, %v", c.name, ran, err)
		}
		if ran, err := read(tenantd.ScopeFor(otherStale.Principal, tenantd.RequestInfo{ID: "test"})); !ran || err != nil {
			t.Errorf("%s of a tenant on another plan: ran %v, %v", c.name, ran, err)
		}
	}

	// Last, as it ends every session of the tenant: an operator suspends
	// the tenant.
	user, session := signIn(tenantd.RoleOwner)
	stale, _ := scopeOf(user, session)
	if err := sql(`UPDATE tenants SET status = 'suspended' WHERE id = $1 AND $2::uuid IS NOT NULL AND $3::uuid IS NOT NULL`)(user, session); err != nil {
		t.Fatal(err)
	}
	if ran, err := read(stale); ran || !errors.Is(err, tenantd.ErrStaleScope) {
		t.Errorf("tenant suspended: ran %v, %v; want ErrStaleScope", ran, err)
	}
}
