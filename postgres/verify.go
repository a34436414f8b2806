package postgres

import (
	"context"
	"fmt"
	"strings"
)

// Finding is one isolation problem found in the live database.
type Finding struct {
	Object  string // table, role or function
	Problem string
}

func (f Finding) String() string { return f.Object + ": " + f.Problem }

// VerifyIsolation inspects the live catalog and reports every way tenant
// isolation could be bypassed: a table with a tenant_id column (or the
// tenants table) without RLS enabled, forced, or a tenant policy for both
// USING and WITH CHECK; a policy with a subquery (Citus rejects them); the
// application role able to bypass RLS or owning a tenant table; a SECURITY
// DEFINER function without a fixed search_path. No findings means isolated.
func (db *DB) VerifyIsolation(ctx context.Context) ([]Finding, error) {
	var out []Finding
	pool := db.dir.platform()

	rows, err := pool.Query(ctx, verifyTablesSQL)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	type table struct {
		name            string
		enabled, forced bool
		quals, checks   []string
	}
	var tables []table
	for rows.Next() {
		var t table
		if err := rows.Scan(&t.name, &t.enabled, &t.forced, &t.quals, &t.checks); err != nil {
			rows.Close()
			return nil, err
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, t := range tables {
		if !t.enabled {
			out = append(out, Finding{t.name, "row-level security is not enabled"})
		}
		if !t.forced {
			out = append(out, Finding{t.name, "row-level security is not forced (the owner would bypass it)"})
		}
		if !hasTenantPolicy(t.quals, t.checks) {
			out = append(out, Finding{t.name, "no permissive policy compares the tenant with app.current_tenant() in both USING and WITH CHECK"})
		}
		for _, q := range append(t.quals, t.checks...) {
			if strings.Contains(strings.ToUpper(q), "SELECT") {
				out = append(out, Finding{t.name, "a policy contains a subquery (Citus rejects them): " + q})
			}
		}
	}

	var appBypass bool
	var appOwned []string
	err = pool.QueryRow(ctx, `
SELECT r.rolbypassrls OR r.rolsuper,
       coalesce((SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
                  WHERE c.relkind IN ('r', 'p') AND pg_has_role(r.oid, c.relowner, 'USAGE')
                    AND c.relnamespace = 'public'::regnamespace), '{}')
  FROM pg_roles r WHERE r.rolname = 'tenantd_app'`).Scan(&appBypass, &appOwned)
	if err != nil {
		return nil, fmt.Errorf("verify: tenantd_app: %w", err)
	}
	if appBypass {
		out = append(out, Finding{"role tenantd_app", "can bypass row-level security"})
	}
	if len(appOwned) > 0 {
		out = append(out, Finding{"role tenantd_app", "owns tables: " + strings.Join(appOwned, ", ")})
	}
	problems, err := db.RoleProblems(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range problems {
		out = append(out, Finding{"connected role", p})
	}

	rows, err = pool.Query(ctx, `
SELECT p.oid::regprocedure::text FROM pg_proc p
 WHERE p.prosecdef AND p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
   AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) c WHERE c LIKE 'search_path=%')
 ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("verify: functions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var fn string
		if err := rows.Scan(&fn); err != nil {
			return nil, err
		}
		out = append(out, Finding{"function " + fn, "SECURITY DEFINER without a fixed search_path"})
	}
	return out, rows.Err()
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
