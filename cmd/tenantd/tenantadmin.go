package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os/user"
	"strconv"
	"text/tabwriter"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// The operator's commands on one tenant: the same changes as the operator
// routes (/v1/admin/tenants/{id}/…), through the same store, each recorded
// in the tenant's audit log with the operator as actor.

// tenantFlags are the flags every one of them takes.
type tenantFlags struct {
	tenant   *string
	operator *string
	asJSON   *bool
}

func addTenantFlags(fs *flag.FlagSet) tenantFlags {
	return tenantFlags{
		tenant:   fs.String("tenant", "", "the tenant's slug or id (required)"),
		operator: fs.String("operator", defaultOperator(), "who is acting, recorded as the actor of the audit event"),
		asJSON:   fs.Bool("json", false, "print the tenant as JSON, as GET /v1/admin/tenants/{id} shows it"),
	}
}

// defaultOperator names the operator after the account running the command.
func defaultOperator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}

// onTenant opens the database, finds the tenant and runs change on it in
// an operator scope, then prints the tenant as it is afterwards.
func onTenant(ctx context.Context, c *cli, f tenantFlags,
	change func(context.Context, tenantd.TenantAdminService, tenantd.Scope) (*tenantd.ManagedTenant, error)) error {
	if *f.tenant == "" {
		return fmt.Errorf("--tenant is required")
	}
	if *f.operator == "" || len(*f.operator) > 200 {
		return fmt.Errorf("--operator must be 1 to 200 characters")
	}
	db, err := openDatabase(ctx, c)
	if err != nil {
		return err
	}
	defer db.close()
	req := tenantd.RequestInfo{ID: "tenantd-cli"}
	id, err := uuid.Parse(*f.tenant)
	if err != nil {
		t, err := db.Platform().TenantBySlug(ctx, *f.tenant)
		if err != nil {
			if tenantd.ErrorCode(err) == tenantd.ENOTFOUND {
				return fmt.Errorf("no tenant %q", *f.tenant)
			}
			return err
		}
		id = t.ID
	}
	m, err := change(ctx, db.TenantAdmin(), tenantd.OperatorScope(id, *f.operator, req))
	if tenantd.ErrorCode(err) == tenantd.ENOTFOUND {
		return fmt.Errorf("no tenant %q", *f.tenant)
	} else if err != nil {
		return err
	}
	if *f.asJSON {
		return writeJSON(c, m)
	}
	return printTenant(c, m)
}

func printTenant(c *cli, m *tenantd.ManagedTenant) error {
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "tenant\t%s (%s)\t%s\n", m.Slug, m.Name, m.ID)
	fmt.Fprintf(w, "plan\t%s\n", m.Plan)
	fmt.Fprintf(w, "region\t%s\n", m.Region)
	fmt.Fprintf(w, "status\t%s\n", m.Status)
	fmt.Fprintln(w)
	used := map[string]string{tenantd.LimitMaxWorkspaces: strconv.Itoa(m.Usage.Workspaces),
		tenantd.LimitMaxUsers: strconv.Itoa(m.Usage.Users), tenantd.LimitEmailSendsPerMonth: "0"}
	fmt.Fprintln(w, "LIMIT\tVALUE\tSOURCE\tUSED")
	for _, l := range m.Config.LimitList() {
		over := ""
		if n, _ := strconv.Atoi(used[l.Name]); n > l.Value {
			over = "  (over the limit)"
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s%s\n", l.Name, l.Value, l.Source, used[l.Name], over)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "FEATURE\tVALUE\tSOURCE")
	for _, f := range m.Config.FeatureList() {
		fmt.Fprintf(w, "%s\t%s\t%s\n", f.Name, f.Value, f.Source)
	}
	return w.Flush()
}

// cmdTenantShow prints a tenant's plan, limits and features with their
// sources, and its usage.
func cmdTenantShow(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "tenant show", "tenant show --tenant SLUG [--json]")
	f := addTenantFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return onTenant(ctx, c, f, func(ctx context.Context, a tenantd.TenantAdminService, s tenantd.Scope) (*tenantd.ManagedTenant, error) {
		return a.Get(ctx, s)
	})
}

// cmdTenantSetPlan moves a tenant to another plan.
func cmdTenantSetPlan(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "tenant set-plan", "tenant set-plan --tenant SLUG --plan free|pro|enterprise [--operator NAME] [--json]")
	f := addTenantFlags(fs)
	plan := fs.String("plan", "", "the new plan (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return onTenant(ctx, c, f, func(ctx context.Context, a tenantd.TenantAdminService, s tenantd.Scope) (*tenantd.ManagedTenant, error) {
		return a.SetPlan(ctx, s, *plan)
	})
}

// cmdTenantSetLimit overrides one of a tenant's limits, or with --reset
// removes the override (the plan's limit applies again).
func cmdTenantSetLimit(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "tenant set-limit", "tenant set-limit --tenant SLUG --limit NAME (--value N | --reset) [--operator NAME] [--json]")
	f := addTenantFlags(fs)
	name := fs.String("limit", "", "max_workspaces, max_users or email_sends_per_month (required)")
	value := fs.Int("value", -1, "the new limit")
	reset := fs.Bool("reset", false, "remove the override: the plan's limit applies again")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var v *int
	switch {
	case *reset && *value >= 0:
		return fmt.Errorf("--value and --reset exclude each other")
	case !*reset && *value < 0:
		return fmt.Errorf("--value (0 to %d) or --reset is required", tenantd.MaxLimit)
	case !*reset:
		v = value
		if err := tenantd.ValidateLimit(*name, *v); err != nil {
			return err
		}
	}
	return onTenant(ctx, c, f, func(ctx context.Context, a tenantd.TenantAdminService, s tenantd.Scope) (*tenantd.ManagedTenant, error) {
		return a.PatchLimits(ctx, s, map[string]*int{*name: v})
	})
}

// cmdTenantSetFeature overrides one of a tenant's features.
func cmdTenantSetFeature(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "tenant set-feature", "tenant set-feature --tenant SLUG --feature NAME --value JSON [--operator NAME] [--json]")
	f := addTenantFlags(fs)
	name := fs.String("feature", "", "custom_branding, api_rate_limit, data_retention or beta.<name> (required)")
	value := fs.String("value", "", `the value as JSON: true, or {"rate":600,"period_seconds":60,"burst":60} (required)`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !json.Valid([]byte(*value)) {
		return fmt.Errorf("--value must be JSON, e.g. true or {\"rate\":600,\"period_seconds\":60,\"burst\":60}")
	}
	if err := tenantd.ValidateFeature(*name, json.RawMessage(*value)); err != nil {
		return err
	}
	return onTenant(ctx, c, f, func(ctx context.Context, a tenantd.TenantAdminService, s tenantd.Scope) (*tenantd.ManagedTenant, error) {
		return a.SetFeature(ctx, s, *name, json.RawMessage(*value))
	})
}

// cmdTenantUnsetFeature removes a feature's override.
func cmdTenantUnsetFeature(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "tenant unset-feature", "tenant unset-feature --tenant SLUG --feature NAME [--operator NAME] [--json]")
	f := addTenantFlags(fs)
	name := fs.String("feature", "", "the feature whose override to remove (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if _, ok := (tenantd.Features{}).Value(*name); !ok {
		return fmt.Errorf("--feature %q is not a feature (%v)", *name, tenantd.FeatureNames())
	}
	return onTenant(ctx, c, f, func(ctx context.Context, a tenantd.TenantAdminService, s tenantd.Scope) (*tenantd.ManagedTenant, error) {
		return a.SetFeature(ctx, s, *name, nil)
	})
}

// cmdTenantSuspend suspends a tenant: logins refused, every session ended.
func cmdTenantSuspend(ctx context.Context, c *cli, args []string) error {
	return setTenantStatus(ctx, c, args, "suspend", tenantd.TenantSuspended)
}

// cmdTenantResume resumes a suspended tenant.
func cmdTenantResume(ctx context.Context, c *cli, args []string) error {
	return setTenantStatus(ctx, c, args, "resume", tenantd.TenantActive)
}

func setTenantStatus(ctx context.Context, c *cli, args []string, verb, status string) error {
	fs := newFlagSet(c, "tenant "+verb, "tenant "+verb+" --tenant SLUG [--operator NAME] [--json]")
	f := addTenantFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return onTenant(ctx, c, f, func(ctx context.Context, a tenantd.TenantAdminService, s tenantd.Scope) (*tenantd.ManagedTenant, error) {
		return a.SetStatus(ctx, s, status)
	})
}
