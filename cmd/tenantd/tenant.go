package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/auth"
)

func cmdTenant(ctx context.Context, c *cli, args []string) error {
	return subcommand(ctx, c, "tenant", args, map[string]func(context.Context, *cli, []string) error{
		"create":        cmdTenantCreate,
		"list":          cmdTenantList,
		"show":          cmdTenantShow,
		"set-plan":      cmdTenantSetPlan,
		"set-limit":     cmdTenantSetLimit,
		"set-feature":   cmdTenantSetFeature,
		"unset-feature": cmdTenantUnsetFeature,
		"suspend":       cmdTenantSuspend,
		"resume":        cmdTenantResume,
	})
}

// cmdTenantCreate provisions a tenant and its owner.
func cmdTenantCreate(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "tenant create",
		"tenant create --slug S --name N [--plan free|pro|enterprise] [--region us] --owner-email E --owner-password P [--json]")
	var n tenantd.NewTenant
	fs.StringVar(&n.Slug, "slug", "", "tenant slug: a lowercase DNS label (required)")
	fs.StringVar(&n.Name, "name", "", "display name (required)")
	fs.StringVar(&n.Plan, "plan", "free", "plan: free, pro or enterprise")
	fs.StringVar(&n.Region, "region", "us", "region")
	fs.StringVar(&n.OwnerEmail, "owner-email", "", "the owner's email address (required)")
	password := fs.String("owner-password", "", "the owner's password (required; at least 12 characters)")
	asJSON := fs.Bool("json", false, `print {"tenant_id","slug","owner_user_id"} as JSON`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// Everything that can be checked without the database is checked first.
	if err := n.Validate(); err != nil {
		return err
	}
	if err := auth.ValidatePassword(*password); err != nil {
		return fmt.Errorf("--owner-password: %w", err)
	}
	hash, err := auth.HashPassword(*password)
	if err != nil {
		return err
	}
	n.OwnerPasswordHash = hash

	db, err := openDatabase(ctx, c)
	if err != nil {
		return err
	}
	defer db.close()
	t, owner, err := db.Platform().CreateTenant(ctx, n, tenantd.RequestInfo{ID: "tenantd-cli"})
	if err != nil {
		if tenantd.ErrorCode(err) == tenantd.ECONFLICT {
			return fmt.Errorf("a tenant with slug %q already exists", n.Slug)
		}
		return err
	}
	if *asJSON {
		return writeJSON(c, map[string]string{"tenant_id": t.ID.String(), "slug": t.Slug, "owner_user_id": owner.ID.String()})
	}
	fmt.Fprintln(c.stdout, t.ID)
	return nil
}

// cmdTenantList lists every tenant.
func cmdTenantList(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "tenant list", "tenant list [--json]")
	asJSON := fs.Bool("json", false, "print a JSON array")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	db, err := openDatabase(ctx, c)
	if err != nil {
		return err
	}
	defer db.close()
	tenants, err := db.Platform().ListTenants(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		if tenants == nil {
			tenants = []*tenantd.Tenant{}
		}
		return writeJSON(c, tenants)
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SLUG\tNAME\tPLAN\tREGION\tSTATUS\tID\tCREATED")
	for _, t := range tenants {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Slug, t.Name, t.Plan, t.Region, t.Status, t.ID,
			t.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"))
	}
	return w.Flush()
}

func writeJSON(c *cli, v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
