package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/postgres"
)

// orgScope is the scope a request of this user would get from the flow.
func orgScope(tenant, user uuid.UUID, role string, workspaces map[uuid.UUID]string) tenantd.Scope {
	return tenantd.ScopeFor(&tenantd.Principal{TenantID: tenant, UserID: user, Role: role, Workspaces: workspaces},
		tenantd.RequestInfo{ID: "test"})
}

func isMissing(err error, kind string, id uuid.UUID) bool {
	var m *tenantd.MissingID
	return errors.As(err, &m) && m.Kind == kind && m.ID == id && tenantd.ErrorCode(err) == tenantd.ENOTFOUND
}

// The database enforces the workspace roles on its own: storage functions called
// directly with a member's scope (no handler, no Go-side filter) read and
// change only what the member's workspace roles allow.
func TestWorkspacePolicyWithoutHandlerChecks(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db, ctx := env.DB, context.Background()
	tenant, owner := newTenant(t, db, "pro")
	admin := orgScope(tenant, owner, tenantd.RoleOwner, nil)

	mine, err := db.Workspaces().Create(ctx, admin, "Mine", "")
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := db.Workspaces().Create(ctx, admin, "Theirs", "secret plans")
	if err != nil {
		t.Fatal(err)
	}
	member, err := db.Users().Create(ctx, admin, "member@example.com", tenantd.RoleMember, "x")
	if err != nil {
		t.Fatal(err)
	}
	other, err := db.Users().Create(ctx, admin, "other@example.com", tenantd.RoleMember, "x")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		ws   uuid.UUID
		user uuid.UUID
		role string
	}{{mine.ID, member.ID, "viewer"}, {theirs.ID, other.ID, "manager"}} {
		if _, _, err := db.Workspaces().PutMember(ctx, admin, m.ws, m.user, m.role); err != nil {
			t.Fatal(err)
		}
	}
	viewer := orgScope(tenant, member.ID, tenantd.RoleMember, map[uuid.UUID]string{mine.ID: "viewer"})
	manager := orgScope(tenant, member.ID, tenantd.RoleMember, map[uuid.UUID]string{mine.ID: "manager"})

	// Reads: only the member's workspace, without any filter from Go.
	items, _, err := db.Workspaces().List(ctx, viewer, tenantd.Page{}, nil)
	if err != nil || len(items) != 1 || items[0].ID != mine.ID {
		t.Fatalf("member lists %v (err %v), want only %s", items, err, mine.ID)
	}
	// The handler's own filter works alongside: none, or just theirs.
	for _, only := range [][]uuid.UUID{{}, {theirs.ID}} {
		if items, _, err := db.Workspaces().List(ctx, admin, tenantd.Page{}, only); err != nil || len(items) != len(only) {
			t.Fatalf("owner lists %v filtered to %v (err %v)", items, only, err)
		}
	}
	if _, err := db.Workspaces().Get(ctx, viewer, theirs.ID); !isMissing(err, "workspace", theirs.ID) {
		t.Fatalf("member reads another workspace: %v", err)
	}
	if _, _, err := db.Workspaces().ListMembers(ctx, viewer, theirs.ID, tenantd.Page{}); !isMissing(err, "workspace", theirs.ID) {
		t.Fatalf("member lists another workspace's members: %v", err)
	}
	// Raw statements through the door: the policies alone decide.
	count := func(s tenantd.Scope, q string, args ...any) int {
		t.Helper()
		n := -1
		err := db.Run(ctx, s, postgres.Statement{SQL: q, Args: args, Scan: func(r pgx.Rows) error {
			r.Next()
			return r.Scan(&n)
		}})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if n := count(viewer, `SELECT count(*) FROM workspaces WHERE tenant_id = $1`, tenant); n != 1 {
		t.Errorf("member sees %d workspaces, want 1", n)
	}
	if n := count(viewer, `SELECT count(*) FROM workspace_members WHERE tenant_id = $1 AND workspace_id = $2`, tenant, theirs.ID); n != 0 {
		t.Errorf("member sees %d memberships of another workspace", n)
	}
	if n := count(admin, `SELECT count(*) FROM workspaces WHERE tenant_id = $1`, tenant); n != 2 {
		t.Errorf("owner sees %d workspaces, want 2", n)
	}
	noWorkspaces := orgScope(tenant, member.ID, tenantd.RoleMember, nil)
	if n := count(noWorkspaces, `SELECT count(*) FROM workspaces WHERE tenant_id = $1`, tenant); n != 0 {
		t.Errorf("member of nothing sees %d workspaces", n)
	}

	// Writes: only owners and admins change workspaces and users; only
	// managers change members.
	name := "Renamed"
	if _, err := db.Workspaces().Update(ctx, manager, mine.ID, tenantd.WorkspacePatch{Name: &name}); !isMissing(err, "workspace", mine.ID) {
		t.Errorf("a manager renamed a workspace: %v", err)
	}
	if err := db.Workspaces().Delete(ctx, manager, mine.ID); !isMissing(err, "workspace", mine.ID) {
		t.Errorf("a manager deleted a workspace: %v", err)
	}
	if _, err := db.Workspaces().Create(ctx, manager, "Sneaky", ""); tenantd.ErrorCode(err) != tenantd.EFORBIDDEN {
		t.Errorf("a member created a workspace: %v", err)
	}
	if _, _, err := db.Workspaces().PutMember(ctx, viewer, mine.ID, other.ID, "manager"); tenantd.ErrorCode(err) != tenantd.EFORBIDDEN {
		t.Errorf("a viewer added a member: %v", err)
	}
	if _, _, err := db.Workspaces().PutMember(ctx, manager, theirs.ID, member.ID, "manager"); !isMissing(err, "workspace", theirs.ID) {
		t.Errorf("a manager of one workspace joined another: %v", err)
	}
	if err := db.Workspaces().DeleteMember(ctx, viewer, mine.ID, member.ID); !isMissing(err, "user", member.ID) {
		t.Errorf("a viewer removed a member: %v", err)
	}
	if _, err := db.Users().Create(ctx, manager, "new@example.com", tenantd.RoleMember, "x"); tenantd.ErrorCode(err) != tenantd.EFORBIDDEN {
		t.Errorf("a member created a user: %v", err)
	}
	allow := func(tenantd.User) error { return nil }
	if _, _, err := db.Users().Update(ctx, manager, owner, tenantd.UserPatch{Role: &[]string{"member"}[0]}, allow); !isMissing(err, "user", owner) {
		t.Errorf("a member demoted the owner: %v", err)
	}
	if _, err := db.Users().Deactivate(ctx, manager, other.ID, allow); !isMissing(err, "user", other.ID) {
		t.Errorf("a member deactivated a user: %v", err)
	}

	// Nothing changed, as the superuser sees it.
	var state string
	err = adminConn(t, env).QueryRow(ctx, `
SELECT string_agg(w.name || ':' || (w.deleted_at IS NULL)::text, ',' ORDER BY w.name) || '|' ||
       (SELECT string_agg(m.role, ',' ORDER BY m.role) FROM workspace_members m WHERE m.tenant_id = $1) || '|' ||
       (SELECT string_agg(u.role || ':' || u.status, ',' ORDER BY u.email) FROM users u WHERE u.tenant_id = $1)
  FROM workspaces w WHERE w.tenant_id = $1`, tenant).Scan(&state)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Mine:true,Theirs:true|manager,viewer|member:active,member:active,owner:active"; state != want {
		t.Errorf("state = %q, want %q", state, want)
	}

	// And what the policies allow, they allow: a manager manages members of
	// their own workspace.
	if _, created, err := db.Workspaces().PutMember(ctx, manager, mine.ID, other.ID, "editor"); err != nil || !created {
		t.Errorf("a manager could not add a member: %v", err)
	}
	if err := db.Workspaces().DeleteMember(ctx, manager, mine.ID, other.ID); err != nil {
		t.Errorf("a manager could not remove a member: %v", err)
	}
}
