package postgres

import (
	"context"
	"encoding/json"
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
// (or the tenants table) without RLS enabled and forced; a restrictive
// policy, or a permissive one that does not require the tenant
// (app.current_tenant()) in each of its expressions, or none at all; a
// policy with a subquery (Citus rejects them); the application role able
// to bypass RLS or owning a tenant table; a SECURITY DEFINER function
// without a fixed search_path. No findings means isolated.
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
	var tables []rlsTable
	var appBypass bool
	var appOwned, problems, definers []string
	err := db.onCell(ctx, c,
		Statement{SQL: verifyTablesSQL, Scan: func(rows pgx.Rows) error {
			for rows.Next() {
				var t rlsTable
				var policies []byte
				if err := rows.Scan(&t.name, &t.enabled, &t.forced, &policies); err != nil {
					return err
				}
				if err := json.Unmarshal(policies, &t.policies); err != nil {
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
		out = append(out, t.findings(t.name)...)
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

// rlsTable is a tenant table (or tenants), or one placement of it, as its
// catalog says.
type rlsTable struct {
	name            string
	enabled, forced bool
	policies        []policy
}

// policy is one row of pg_policy, its expressions deparsed.
type policy struct {
	Name       string `json:"name"`
	Permissive bool   `json:"permissive"`
	Command    string `json:"cmd"` // r, a, w, d or * (pg_policy.polcmd)
	Using      string `json:"using"`
	Check      string `json:"check"`
}

// findings are the ways around isolation of one table, named object in
// the findings. Every policy must be permissive and hold the tenant
// (tenant_id = app.current_tenant(), id for the tenants table) as a
// top-level condition of each of its expressions: permissive policies are
// ORed, so one without the tenant opens the table whatever the others
// say, and a restrictive policy is only as good as the engine's keeping
// the word (a sharded engine may write it to its shards as permissive).
func (t rlsTable) findings(object string) []Finding {
	var out []Finding
	if !t.enabled {
		out = append(out, Finding{Object: object, Problem: "row-level security is not enabled"})
	}
	if !t.forced {
		out = append(out, Finding{Object: object, Problem: "row-level security is not forced (the owner would bypass it)"})
	}
	tenant := "tenant_id = app.current_tenant()"
	if t.name == "tenants" {
		tenant = "id = app.current_tenant()"
	}
	permissive := 0
	for _, p := range t.policies {
		if !p.Permissive {
			out = append(out, Finding{Object: object, Problem: "policy " + p.Name + " is restrictive: a sharded engine (Citus) writes it to its shards " +
				"as permissive, where it widens what the others allow; put its condition into the one permissive policy of each command"})
			continue
		}
		permissive++
		for _, e := range []string{p.Using, p.Check} {
			if e != "" && !hasConjunct(e, tenant) {
				out = append(out, Finding{Object: object, Problem: "permissive policy " + p.Name + " does not require " + tenant +
					" in each of its expressions (permissive policies are ORed): " + e})
				break
			}
		}
		for _, e := range []string{p.Using, p.Check} {
			if strings.Contains(strings.ToUpper(e), "SELECT") {
				out = append(out, Finding{Object: object, Problem: "a policy contains a subquery (Citus rejects them): " + e})
			}
		}
	}
	if permissive == 0 {
		out = append(out, Finding{Object: object, Problem: "no permissive policy compares the tenant with app.current_tenant()"})
	}
	return out
}

// hasConjunct reports whether the deparsed boolean expression expr is want,
// or an AND of conditions one of which is want (each in any number of
// parentheses).
func hasConjunct(expr, want string) bool {
	for _, c := range conjuncts(expr) {
		if c == want {
			return true
		}
	}
	return false
}

// conjuncts splits a deparsed expression at its top-level ANDs, without
// the parentheses around the whole or around each part.
func conjuncts(expr string) []string {
	expr = unwrap(expr)
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(expr); i++ {
		switch ch := expr[i]; {
		case ch == '\'':
			quoted = !quoted
		case quoted:
		case ch == '(':
			depth++
		case ch == ')':
			depth--
		case depth == 0 && strings.HasPrefix(expr[i:], " AND "):
			out = append(out, unwrap(expr[start:i]))
			start = i + len(" AND ")
			i = start - 1
		}
	}
	return append(out, unwrap(expr[start:]))
}

// unwrap removes parentheses that enclose the whole of expr.
func unwrap(expr string) string {
	for {
		expr = strings.TrimSpace(expr)
		if len(expr) < 2 || expr[0] != '(' || matchingParen(expr) != len(expr)-1 {
			return expr
		}
		expr = expr[1 : len(expr)-1]
	}
}

// matchingParen returns the index of the parenthesis that closes expr[0].
func matchingParen(expr string) int {
	depth, quoted := 0, false
	for i := 0; i < len(expr); i++ {
		switch ch := expr[i]; {
		case ch == '\'':
			quoted = !quoted
		case quoted:
		case ch == '(':
			depth++
		case ch == ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// Tables with a tenant_id column, plus the tenants table, with their RLS
// flags and every policy (JSON, the shape of policy).
const verifyTablesSQL = `
SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity,
       coalesce((SELECT json_agg(json_build_object('name', p.polname, 'permissive', p.polpermissive, 'cmd', p.polcmd,
                                                   'using', coalesce(pg_get_expr(p.polqual, p.polrelid), ''),
                                                   'check', coalesce(pg_get_expr(p.polwithcheck, p.polrelid), ''))
                                 ORDER BY p.polname)
                   FROM pg_policy p WHERE p.polrelid = c.oid), '[]')
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND (c.relname = 'tenants' AND n.nspname = 'public'
        OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
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
