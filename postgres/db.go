// Package postgres is the only place where SQL meets Go: migrations, Row-Level
// Security, the one door to tenant data (door.go), and the services built on
// it. It never exports a connection pool.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is tenantd's database as the application role sees it: the cells of a
// Directory. Tenant data is reached only through InTenant and Run
// (door.go); platform work goes through the door's platform path (onCell),
// and cross-tenant needs through the named functions in platform.go.
type DB struct {
	dir        *Directory
	share      *fairShare
	prepared   *preparedSet // nil: never prepare (default_query_exec_mode set in a URL)
	log        *slog.Logger
	trips      atomic.Int64
	statements atomic.Int64
}

// Options configure Open.
type Options struct {
	Logger *slog.Logger
	// MaxConns caps each cell's pool unless its URL sets pool_max_conns.
	MaxConns int32
	// TenantShare caps the connections one tenant's authenticated work may
	// hold at once; zero means TenantFraction of the pool (at least 1).
	TenantShare int
	// TenantFraction is TenantShare as a fraction of the pool, 0 < f ≤ 1
	// (TENANTD_TENANT_SHARE); zero means DefaultTenantFraction.
	TenantFraction float64
	// AnonymousShare caps the connections all anonymous work (Scope.
	// Anonymous: logins, refreshes, refused requests) may hold at once,
	// one tenant's at most half of it; zero means a quarter of the pool
	// (at least 1).
	AnonymousShare int
}

// Open connects as the application role to a deployment of one cell, the
// database of url: OpenDirectory(ctx, NewDirectory(Cell{URL: url}), o).
func Open(ctx context.Context, url string, o Options) (*DB, error) {
	return OpenDirectory(ctx, NewDirectory(Cell{URL: url}), o)
}

// OpenDirectory connects as the application role to every cell of dir. A
// cell's URL may set any pgx option. Statements go through the extended
// protocol in pipelines (QueryExecModeExec). The door prepares the
// application's own statements once per connection, so their plans (with
// the RLS policies inlined) are cached; the SET LOCAL statements, which
// differ per tenant, are never prepared. With default_query_exec_mode in a
// cell's URL (e.g. =exec, for PgBouncer older than 1.21 in transaction
// mode) nothing is prepared.
func OpenDirectory(ctx context.Context, dir *Directory, o Options) (*DB, error) {
	db := &DB{log: o.Logger, prepared: newPreparedSet()}
	for _, c := range dir.all() {
		if strings.Contains(c.URL, "default_query_exec_mode") {
			db.prepared = nil
		}
	}
	if db.log == nil {
		db.log = slog.New(slog.DiscardHandler)
	}
	open, err := dir.open(ctx, db, o)
	if err != nil {
		return nil, err
	}
	db.dir = open
	size := open.maxConns()
	share := o.TenantShare
	if share <= 0 {
		f := o.TenantFraction
		if f <= 0 || f > 1 {
			f = DefaultTenantFraction
		}
		share = max(1, int(float64(size)*f))
	}
	anon := o.AnonymousShare
	if anon <= 0 {
		anon = max(1, size/4)
	}
	db.share = newFairShare(share, anon)
	return db, nil
}

// DefaultTenantFraction is the share of the pool one tenant's
// authenticated work may hold at once, unless Options say otherwise.
const DefaultTenantFraction = 0.75

// TenantShare is how many pooled connections one tenant's authenticated
// work may hold at once.
func (db *DB) TenantShare() int { return db.share.max }

// Close closes every cell's pool.
func (db *DB) Close() { db.dir.close() }

// RoundTrips returns the number of database round trips made so far.
func (db *DB) RoundTrips() int64 { return db.trips.Load() }

// Statements returns the number of statements the door has sent so far
// (BEGIN, SET LOCAL and COMMIT included; preparing one is not counted).
func (db *DB) Statements() int64 { return db.statements.Load() }

// Ping checks that every cell answers and is migrated to the version this
// binary embeds (for /readyz and the operator commands).
func (db *DB) Ping(ctx context.Context) error {
	want := SchemaVersion()
	for _, c := range db.dir.all() {
		var v int64
		err := db.onCell(ctx, c, Statement{
			SQL:  `SELECT coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied`,
			Scan: scanOne(&v),
		})
		if err != nil {
			return fmt.Errorf("postgres: cell %s: %w", c.Name, err)
		}
		if v < want {
			return fmt.Errorf("postgres: cell %s: schema at version %d, binary needs %d: run tenantd migrate", c.Name, v, want)
		}
	}
	return nil
}

// RoleProblems returns why the connected role must not run the server: it
// is a superuser, can bypass RLS, owns a tenant table, can become a role
// that does, or lacks tenantd_app. Empty means safe. `tenantd serve` refuses
// to start otherwise.
func (db *DB) RoleProblems(ctx context.Context) ([]string, error) {
	var problems []string
	for _, c := range db.dir.all() {
		var found []string
		err := db.onCell(ctx, c, roleCheck(&found))
		if err != nil {
			return nil, fmt.Errorf("postgres: cell %s: check role: %w", c.Name, err)
		}
		for _, p := range found {
			problems = append(problems, db.inCell(c, p))
		}
	}
	return problems, nil
}

// inCell names the cell a problem was found in, when there is more than one.
func (db *DB) inCell(c *cell, problem string) string {
	if len(db.dir.all()) == 1 {
		return problem
	}
	return problem + " (cell " + c.Name + ")"
}

// roleCheck reads the problems of the connected role into problems.
func roleCheck(problems *[]string) Statement {
	return Statement{SQL: roleCheckSQL, Scan: func(rows pgx.Rows) error {
		var super, bypass, app, owner bool
		var owned []string
		if !rows.Next() {
			return errors.New("postgres: the connected role is not in pg_roles")
		}
		if err := rows.Scan(&super, &bypass, &app, &owner, &owned); err != nil {
			return err
		}
		if super {
			*problems = append(*problems, "the role is a superuser (superusers bypass Row-Level Security)")
		}
		if bypass {
			*problems = append(*problems, "the role has BYPASSRLS")
		}
		if !app {
			*problems = append(*problems, "the role is not a member of tenantd_app")
		}
		if owner {
			*problems = append(*problems, "the role can act as tenantd_owner or tenantd_platform")
		}
		if len(owned) > 0 {
			*problems = append(*problems, "the role owns tenant tables: "+strings.Join(owned, ", "))
		}
		return nil
	}}
}

// scanOne scans the only row of a statement into dest; no row is
// pgx.ErrNoRows.
func scanOne(dest ...any) func(pgx.Rows) error {
	return func(rows pgx.Rows) error {
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return err
			}
			return pgx.ErrNoRows
		}
		return rows.Scan(dest...)
	}
}

const roleCheckSQL = `
SELECT r.rolsuper, r.rolbypassrls,
       pg_has_role(current_user, 'tenantd_app', 'USAGE'),
       pg_has_role(current_user, 'tenantd_owner', 'MEMBER') OR pg_has_role(current_user, 'tenantd_platform', 'MEMBER'),
       coalesce((SELECT array_agg(c.relname::text ORDER BY c.relname)
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                    AND pg_has_role(current_user, c.relowner, 'USAGE')), '{}')
  FROM pg_roles r WHERE r.rolname = current_user`

// countingConn counts round trips: each read that follows a write.
type countingConn struct {
	net.Conn
	trips *atomic.Int64
	wrote atomic.Bool
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.wrote.Store(true)
	return c.Conn.Write(b)
}

func (c *countingConn) Read(b []byte) (int, error) {
	if c.wrote.Swap(false) {
		c.trips.Add(1)
	}
	return c.Conn.Read(b)
}

// isConnError reports whether err means the database could not be reached,
// as opposed to a query it rejected.
func isConnError(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if asPgError(err, &pgErr) {
		// Class 08: connection exception; 57P01-03: admin shutdown, crash
		// shutdown, cannot connect now.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
	}
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err) || isNetError(err)
}
