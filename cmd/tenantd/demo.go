package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/auth"
	"github.com/tenantd/tenantd/postgres"
)

const demoPassword = "demo-password-123"

var demoTenants = []tenantd.NewTenant{
	{Slug: "acme", Name: "Acme Marketing", Plan: "enterprise", Region: "us", OwnerEmail: "owner@acme.example"},
	{Slug: "globex", Name: "Globex Corporation", Plan: "pro", Region: "us", OwnerEmail: "owner@globex.example"},
}

// provisionDemo creates the demo tenants that do not exist yet.
func provisionDemo(ctx context.Context, db *postgres.DB, log *slog.Logger) error {
	for _, n := range demoTenants {
		if t, err := db.Platform().TenantBySlug(ctx, n.Slug); err == nil {
			log.Info("demo tenant already exists", "slug", t.Slug, "tenant_id", t.ID)
			continue
		} else if tenantd.ErrorCode(err) != tenantd.ENOTFOUND {
			return err
		}
		hash, err := auth.HashPassword(demoPassword)
		if err != nil {
			return err
		}
		n.OwnerPasswordHash = hash
		t, _, err := db.Platform().CreateTenant(ctx, n, tenantd.RequestInfo{ID: "tenantd-demo"})
		if tenantd.ErrorCode(err) == tenantd.ECONFLICT {
			continue // another instance created it meanwhile
		}
		if err != nil {
			return fmt.Errorf("%s: %w", n.Slug, err)
		}
		log.Info("demo tenant created", "slug", t.Slug, "tenant_id", t.ID)
	}
	return nil
}

func printDemoBanner(w io.Writer, base string) {
	fmt.Fprintf(w, `
tenantd is running at %s

Demo logins (password %s):
  tenant acme    owner@acme.example
  tenant globex  owner@globex.example

Log in:
  curl -s -X POST %s/v1/auth/login -H 'Content-Type: application/json' \
    -d '{"tenant":"acme","email":"owner@acme.example","password":"%s"}'

Stop with Ctrl-C.
`, base, demoPassword, base, demoPassword)
}
