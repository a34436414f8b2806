package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/postgres"
)

func TestVerifyIsolationPassesOnMigratedSchema(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	findings, err := env.DB.VerifyIsolation(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) > 0 {
		t.Fatalf("findings on a freshly migrated database: %v", findings)
	}
}

// verify-isolation must actually fail on a broken database: each breakage,
// done as a superuser, must be reported.
func TestVerifyIsolationDetectsBreakage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, sql, want string
	}{
		{"rls disabled", `ALTER TABLE workspaces DISABLE ROW LEVEL SECURITY`, "workspaces: row-level security is not enabled"},
		{"rls not forced", `ALTER TABLE users NO FORCE ROW LEVEL SECURITY`, "users: row-level security is not forced"},
		{"policy dropped", `DROP POLICY tenant_isolation ON sessions`, "sessions: no permissive policy"},
		{"policy without tenant", `DROP POLICY tenant_isolation ON invitations;
			CREATE POLICY open ON invitations USING (true) WITH CHECK (true)`, "invitations: permissive policy open does not require"},
		{"second permissive policy", `CREATE POLICY reach ON workspaces FOR SELECT USING (app.can_reach_workspace(id))`,
			"workspaces: permissive policy reach does not require"},
		{"tenant only in one branch of an OR", `CREATE POLICY either ON users FOR SELECT
			USING (tenant_id = app.current_tenant() OR app.is_tenant_admin())`, "users: permissive policy either does not require"},
		{"tenant only in USING", `CREATE POLICY half ON sessions FOR UPDATE
			USING (tenant_id = app.current_tenant()) WITH CHECK (app.is_tenant_admin())`, "sessions: permissive policy half does not require"},
		{"restrictive policy", `CREATE POLICY narrow ON audit_events AS RESTRICTIVE FOR SELECT USING (app.is_tenant_admin())`,
			"audit_events: policy narrow is restrictive"},
		{"policy with subquery", `CREATE POLICY sub ON workspaces USING (tenant_id = app.current_tenant())
			WITH CHECK (tenant_id IN (SELECT id FROM tenants))`, "workspaces: a policy contains a subquery"},
		{"new table without rls", `CREATE TABLE contacts (tenant_id uuid, id uuid, PRIMARY KEY (tenant_id, id))`,
			"contacts: row-level security is not enabled"},
		{"app owns a table", `CREATE TABLE rogue (tenant_id uuid); ALTER TABLE rogue OWNER TO tenantd_app`,
			"role tenantd_app: owns tables: rogue"},
		{"security definer without search_path", `CREATE FUNCTION app.leak() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'`,
			"function app.leak(): SECURITY DEFINER without a fixed search_path"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := testenv.New(t)
			ctx := context.Background()
			if _, err := adminConn(t, env).Exec(ctx, c.sql); err != nil {
				t.Fatal(err)
			}
			findings, err := env.DB.VerifyIsolation(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range findings {
				if strings.HasPrefix(f.String(), c.want) {
					return
				}
			}
			t.Fatalf("want a finding %q, got %v", c.want, findings)
		})
	}
}

// serve refuses to run as a role that could bypass isolation.
func TestRoleProblemsRefuseDangerousRoles(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	admin := adminConn(t, env)
	suffix := strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	cases := map[string]struct{ setup, want string }{
		"super_" + suffix:  {`CREATE ROLE %s LOGIN SUPERUSER`, "superuser"},
		"bypass_" + suffix: {`CREATE ROLE %s LOGIN BYPASSRLS IN ROLE tenantd_app`, "BYPASSRLS"},
		"owner_" + suffix:  {`CREATE ROLE %s LOGIN IN ROLE tenantd_app, tenantd_owner`, "tenantd_owner"},
		"stray_" + suffix:  {`CREATE ROLE %s LOGIN`, "not a member of tenantd_app"},
	}
	for role, c := range cases {
		if _, err := admin.Exec(ctx, strings.Replace(c.setup, "%s", role, 1)); err != nil {
			t.Fatal(err)
		}
		db, err := postgres.Open(ctx, postgres.WithUser(env.AppURL, role), postgres.Options{MaxConns: 1})
		if err != nil {
			t.Fatal(err)
		}
		problems, err := db.RoleProblems(ctx)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(problems, "; "), c.want) {
			t.Errorf("role %s: problems %v, want one mentioning %q", role, problems, c.want)
		}
	}
	problems, err := env.DB.RoleProblems(ctx)
	if err != nil || len(problems) > 0 {
		t.Fatalf("the proper application role: %v %v", problems, err)
	}
}

func TestConjuncts(t *testing.T) {
	t.Parallel()
	const tenant = "tenant_id = app.current_tenant()"
	cases := []struct {
		expr string
		want bool
	}{
		{"(tenant_id = app.current_tenant())", true},
		{"((tenant_id = app.current_tenant()) AND app.is_tenant_admin())", true},
		{"(app.is_tenant_admin() AND (tenant_id = app.current_tenant()))", true},
		{"((tenant_id = app.current_tenant()) AND (app.can_reach_workspace(workspace_id) OR (user_id = app.current_user_id())))", true},
		{"((tenant_id = app.current_tenant()) OR app.is_tenant_admin())", false},
		{"(((tenant_id = app.current_tenant()) AND true) OR true)", false},
		{"(tenant_id = app.current_tenant(')) AND (x'))", false},
		{"(other_id = app.current_tenant())", false},
		{"true", false},
	}
	for _, c := range cases {
		if got := postgres.HasConjunct(c.expr, tenant); got != c.want {
			t.Errorf("HasConjunct(%q) = %v, want %v", c.expr, got, c.want)
		}
	}
}
