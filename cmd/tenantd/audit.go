package main

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd/auth"
	api "github.com/tenantd/tenantd/http"
	"github.com/tenantd/tenantd/postgres"
)

func cmdAudit(ctx context.Context, c *cli, args []string) error {
	return subcommand(ctx, c, "audit", args, map[string]func(context.Context, *cli, []string) error{
		"verify": cmdAuditVerify,
	})
}

// cmdAuditVerify recomputes the hash chain of one tenant's audit log (or of
// every tenant's) and exits 1 naming the first broken event.
func cmdAuditVerify(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "audit verify", "audit verify [--tenant SLUG]")
	slug := fs.String("tenant", "", "verify only this tenant (default: every tenant)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	db, err := openDatabase(ctx, c)
	if err != nil {
		return err
	}
	defer db.close()
	results, err := db.VerifyAuditChains(ctx, *slug)
	if err != nil {
		return err
	}
	report, ok := postgres.FormatVerify(results)
	fmt.Fprint(c.stdout, report)
	if !ok {
		return exitError{1}
	}
	return nil
}

func cmdOperator(ctx context.Context, c *cli, args []string) error {
	return subcommand(ctx, c, "operator", args, map[string]func(context.Context, *cli, []string) error{
		"token": cmdOperatorToken,
	})
}

// cmdOperatorToken mints a short-lived platform operator token: its own
// audience and type, so it works only on the platform security routes and a
// tenant user's token never works there.
func cmdOperatorToken(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "operator token", "operator token [--operator UUID] [--ttl 15m]")
	id := fs.String("operator", "", "the operator's id (default: a new one, printed to stderr)")
	ttl := fs.Duration("ttl", 15*time.Minute, "token lifetime (at most 1h)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	op := uuid.New()
	if *id != "" {
		var err error
		if op, err = uuid.Parse(*id); err != nil {
			return fmt.Errorf("--operator must be a UUID")
		}
	} else {
		fmt.Fprintln(c.stderr, "operator id:", op)
	}
	master, err := masterKey(c, false)
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, c)
	if err != nil {
		return err
	}
	defer db.close()
	ring := &auth.KeyRing{Store: db.Keys(), Master: master}
	if err := ring.Refresh(ctx); err != nil {
		return err
	}
	tok, err := api.MintOperatorToken(ring.Keys, c.config("TENANTD_ISSUER", "tenantd"), "", op, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, tok)
	return nil
}
