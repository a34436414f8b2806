package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tenantd/tenantd/postgres"
)

// cmdVerifyIsolation reports every way around tenant isolation the live
// catalog allows, one finding a line; exit status 1 when there is any.
func cmdVerifyIsolation(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "verify-isolation", "verify-isolation")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	db, err := openDatabase(ctx, c)
	if err != nil {
		return err
	}
	defer db.close()
	findings, err := db.VerifyIsolation(ctx)
	if err != nil {
		return err
	}
	if len(findings) == 0 {
		fmt.Fprintln(c.stdout, "OK: no findings")
		return nil
	}
	// Grouped by table (or role, function): stable order, one per line.
	slices.SortStableFunc(findings, func(a, b postgres.Finding) int { return strings.Compare(a.Object, b.Object) })
	for _, f := range findings {
		fmt.Fprintln(c.stdout, "FINDING: "+f.String())
	}
	fmt.Fprintf(c.stdout, "%d finding(s): tenant isolation is not guaranteed\n", len(findings))
	return exitError{1}
}
