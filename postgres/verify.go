package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Finding is one isolation problem found in the live database.
type Finding struct {
	Object  string // table, role or function
	Problem string
	// Cell is the cell it was found in, when the directory has more than
	// one.
	Cell string
}

func (f Finding) String() string {
	if f.Cell != "" {
		return f.Object + ": " + f.Problem + " (cell " + f.Cell + ")"
	}
	return f.Object + ": " + f.Problem
}

// VerifyIsolation inspects the live catalog of every cell and reports every
// way tenant isolation could be bypassed: a table with a tenant_id column
// (or the tenants table) without RLS enabled, forced, or a tenant policy
// for both USING and WITH CHECK; a policy with a subquery (Citus rejects
// them); the application role able to bypass RLS or owning a tenant table;
// a SECURITY DEFINER function without a fixed search_path. No findings
// means isolated.
func (db *DB) VerifyIsolation(ctx context.Context) ([]Finding, error) {
	var out []Finding
	for _, c := range db.dir.all() {
		found, err := db.verifyCell(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("verify: cell %s: %w", c.Name, err)
		}
		for _, f := range found {
			if len(db.dir.all()) > 1 {
				f.Cell = c.Name
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// verifyCell inspects one cell, in one round trip.
func (db *DB) verifyCell(ctx context.Context, c *cell) ([]Finding, error) {
	type table struct {
		name            string
		enabled, forced bool
		quals, checks   []string
	}
	var tables []table
	var appBypass bool
	var appOwned, problems, definers []string
	err := db.onCell(ctx, c,
		Statement{SQL: verifyTablesSQL, Scan: func(rows pgx.Rows) error {
			for rows.Next() {
				var t table
				if err := rows.Scan(&t.name, &t.enabled, &t.forced, &t.quals, &t.checks); err != nil {
					return err
				}
				tables = append(tables, t)
			}
			return rows.Err()
		}},
		Statement{SQL: verifyAppRoleSQL, Scan: scanOne(&appBypass, &appOwned)},
		roleCheck(&problems),
		Statement{SQL: verifyDefinersSQL, Scan: func(rows pgx.Rows) (err error) {
			definers, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		}})
	if err != nil {
		return nil, err
	}

	var out []Finding
	for _, t := range tables {
		if !t.enabled {
			out = append(out, Finding{Object: t.name, Problem: "row-level security is not enabled"})
		}
		if !t.forced {
			out = append(out, Finding{Object: t.name, Problem: "row-level security is not forced (the owner would bypass it)"})
		}
		if !hasTenantPolicy(t.quals, t.checks) {
			out = append(out, Finding{Object: t.name, Problem: "no permissive policy compares the tenant with app.current_tenant() in both USING and WITH CHECK"})
		}
		for _, q := range append(t.quals, t.checks...) {
			if strings.Contains(strings.ToUpper(q), "SELECT") {
				out = append(out, Finding{Object: t.name, Problem: "a policy contains a subquery (Citus rejects them): " + q})
			}
		}
	}
	if appBypass {
		out = append(out, Finding{Object: "role tenantd_app", Problem: "can bypass row-level security"})
	}
	if len(appOwned) > 0 {
		out = append(out, Finding{Object: "role tenantd_app", Problem: "owns tables: " + strings.Join(appOwned, ", ")})
	}
	for _, p := range problems {
		out = append(out, Finding{Object: "connected role", Problem: p})
	}
	for _, fn := range definers {
		out = append(out, Finding{Object: "function " + fn, Problem: "SECURITY DEFINER without a fixed search_path"})
	}
	return out, nil
}

func hasTenantPolicy(quals, checks []string) bool {
	for i := range quals {
		q, c := quals[i], checks[i]
		if strings.Contains(q, "current_tenant()") && strings.Contains(c, "current_tenant()") {
			return true
		}
	}
	return false
}

// Tables with a tenant_id column, plus the tenants table, with their RLS
// flags and their permissive ALL policies' expressions (pairwise).
const verifyTablesSQL = `
SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity,
       coalesce(array_agg(coalesce(p.qual, '') ORDER BY p.policyname) FILTER (WHERE p.policyname IS NOT NULL), '{}'),
       coalesce(array_agg(coalesce(p.with_check, '') ORDER BY p.policyname) FILTER (WHERE p.policyname IS NOT NULL), '{}')
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_policies p ON p.schemaname = n.nspname AND p.tablename = c.relname
       AND p.permissive = 'PERMISSIVE' AND p.cmd = 'ALL'
 WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND (c.relname = 'tenants' AND n.nspname = 'public'
        OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
 GROUP BY c.relname, c.relrowsecurity, c.relforcerowsecurity
 ORDER BY c.relname`

// Whether tenantd_app can bypass RLS, and the tables it owns.
const verifyAppRoleSQL = `
SELECT r.rolbypassrls OR r.rolsuper,
       coalesce((SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
                  WHERE c.relkind IN ('r', 'p') AND pg_has_role(r.oid, c.relowner, 'USAGE')
                    AND c.relnamespace = 'public'::regnamespace), '{}')
  FROM pg_roles r WHERE r.rolname = 'tenantd_app'`

// SECURITY DEFINER functions without a fixed search_path.
const verifyDefinersSQL = `
SELECT p.oid::regprocedure::text FROM pg_proc p
 WHERE p.prosecdef AND p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
   AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) c WHERE c LIKE 'search_path=%')
 ORDER BY 1`
