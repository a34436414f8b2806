package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd/internal/pgtest"
	"github.com/tenantd/tenantd/postgres"
)

// TestTenantAdminCommands: show, set-plan, set-limit, set-feature,
// unset-feature, suspend and resume change one tenant as the operator
// routes do, each recorded in its audit log with the operator as actor;
// bad input exits non-zero and changes nothing.
//
// Not parallel: it migrates a database of the package's cluster (see
// TestServeRefusesSuperuser).
func TestTenantAdminCommands(t *testing.T) {
	ctx := t.Context()
	super := pgtest.Cluster(t).SuperuserURL(pgtest.NewDatabase(t, ""))
	env := map[string]string{"MIGRATE_DATABASE_URL": super, "TENANTD_DATA": t.TempDir()}
	if code, out, errOut := runCmd(t, env, "migrate"); code != 0 {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errOut)
	}
	if err := postgres.EnsureLoginRole(ctx, super, "cmd_admin_app", ""); err != nil {
		t.Fatal(err)
	}
	env["DATABASE_URL"] = postgres.WithUser(super, "cmd_admin_app")
	if code, _, errOut := runCmd(t, env, "tenant", "create", "--slug", "initech", "--name", "Initech", "--plan", "pro",
		"--owner-email", "boss@initech.example", "--owner-password", "a long enough password"); code != 0 {
		t.Fatalf("tenant create: exit %d\n%s", code, errOut)
	}

	type shown struct {
		Plan, Status string
		Limits       []struct {
			Name   string
			Value  int
			Source string
		}
		Features []struct {
			Name   string
			Value  json.RawMessage
			Source string
		}
	}
	tenant := func(args ...string) shown {
		t.Helper()
		args = append([]string{"tenant"}, append(args, "--tenant", "initech", "--operator", "ops@example.com", "--json")...)
		code, out, errOut := runCmd(t, env, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, errOut)
		}
		var s shown
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("%v --json: %v\n%s", args, err, out)
		}
		return s
	}
	limit := func(s shown, name string) (int, string) {
		for _, l := range s.Limits {
			if l.Name == name {
				return l.Value, l.Source
			}
		}
		return -1, ""
	}
	feature := func(s shown, name string) (string, string) {
		for _, f := range s.Features {
			if f.Name == name {
				var b bytes.Buffer
				json.Compact(&b, f.Value)
				return b.String(), f.Source
			}
		}
		return "", ""
	}

	if s := tenant("show"); s.Plan != "pro" || s.Status != "active" {
		t.Fatalf("show: %+v", s)
	}
	if s := tenant("set-plan", "--plan", "enterprise"); s.Plan != "enterprise" {
		t.Errorf("set-plan: %+v", s)
	}
	if v, src := limit(tenant("set-limit", "--limit", "max_users", "--value", "7"), "max_users"); v != 7 || src != "override" {
		t.Errorf("set-limit: max_users %d from %s", v, src)
	}
	if v, src := limit(tenant("set-limit", "--limit", "max_users", "--reset"), "max_users"); v != 500 || src != "plan" {
		t.Errorf("set-limit --reset: max_users %d from %s", v, src)
	}
	rate := `{"rate":100,"period_seconds":60,"burst":10}`
	if v, src := feature(tenant("set-feature", "--feature", "api_rate_limit", "--value", rate), "api_rate_limit"); v != rate || src != "override" {
		t.Errorf("set-feature: api_rate_limit %s from %s", v, src)
	}
	if _, src := feature(tenant("unset-feature", "--feature", "api_rate_limit"), "api_rate_limit"); src != "plan" {
		t.Errorf("unset-feature: api_rate_limit from %s", src)
	}
	if s := tenant("suspend"); s.Status != "suspended" {
		t.Errorf("suspend: %+v", s)
	}
	if s := tenant("resume"); s.Status != "active" {
		t.Errorf("resume: %+v", s)
	}
	if code, out, errOut := runCmd(t, env, "tenant", "show", "--tenant", "initech"); code != 0 ||
		!strings.Contains(out, "max_workspaces") || !strings.Contains(out, "api_rate_limit") {
		t.Errorf("show (text): exit %d\n%s%s", code, out, errOut)
	}

	conn, err := pgx.Connect(ctx, super)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	count := func() (n int) {
		t.Helper()
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'tenant.updated'
		   AND actor_type = 'operator' AND actor_id = 'ops@example.com'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 7 {
		t.Errorf("%d tenant.updated events by the operator, want 7", n)
	}

	for _, args := range [][]string{
		{"tenant", "set-plan", "--tenant", "initech", "--plan", "gold"},
		{"tenant", "set-plan", "--tenant", "nosuch", "--plan", "pro"},
		{"tenant", "set-limit", "--tenant", "initech", "--limit", "max_seats", "--value", "3"},
		{"tenant", "set-limit", "--tenant", "initech", "--limit", "max_users"},
		{"tenant", "set-limit", "--tenant", "initech", "--limit", "max_users", "--value", "3", "--reset"},
		{"tenant", "set-feature", "--tenant", "initech", "--feature", "api_rate_limit", "--value", "fast"},
		{"tenant", "set-feature", "--tenant", "initech", "--feature", "custom_branding", "--value", `"yes"`},
		{"tenant", "unset-feature", "--tenant", "initech", "--feature", "nope"},
		{"tenant", "suspend"},
	} {
		if code, _, errOut := runCmd(t, env, args...); code == 0 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
	if n := count(); n != 7 {
		t.Errorf("refused commands recorded changes: %d events", n)
	}
}
