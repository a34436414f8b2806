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
			CREATE POLICY open ON invitations USING (true) WITH CHECK (true)`, "invitations: no permissive policy"},
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
