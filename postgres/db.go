// Package postgres is the only place where SQL meets Go: migrations, Row-Level
// Security, the one door to tenant data (door.go), and the services built on
// it. It never exports a connection pool.
package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is tenantd's database as the application role sees it. Tenant data is
// reached only through InTenant and Run (door.go); cross-tenant needs go
// through the named functions in platform.go.
type DB struct {
	dir      *Directory
	share    *fairShare
	prepared *preparedSet // nil: never prepare (default_query_exec_mode set in the URL)
	log      *slog.Logger
	trips    atomic.Int64
}

// Options configure Open.
type Options struct {
	Logger *slog.Logger
	// MaxConns caps the pool unless the URL sets pool_max_conns.
	MaxConns int32
	// TenantShare caps the connections one tenant's authenticated work may
	// hold at once; zero means three quarters of the pool (at least 1).
	TenantShare int
	// AnonymousShare caps the connections all anonymous work (Scope.
	// Anonymous: logins, refreshes, refused requests) may hold at once,
	// one tenant's at most half of it; zero means a quarter of the pool
	// (at least 1).
	AnonymousShare int
}

// Open connects as the application role. The connection string may set any
// pgx option. Statements go through the extended protocol in pipelines
// (QueryExecModeExec). The door prepares the application's own statements
// once per connection, so their plans (with the RLS policies inlined) are
// cached; the SET LOCAL statements, which differ per tenant, are never
// prepared. With default_query_exec_mode in the URL (e.g. =exec, for
// PgBouncer older than 1.21 in transaction mode) nothing is prepared.
func Open(ctx context.Context, url string, o Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse DATABASE_URL: %w", err)
	}
	db := &DB{log: o.Logger}
	if !strings.Contains(url, "default_query_exec_mode") {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
		db.prepared = newPreparedSet()
		cfg.BeforeClose = func(c *pgx.Conn) { db.prepared.forget(c) }
	}
	if o.MaxConns > 0 && !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = o.MaxConns
	}
	cfg.MaxConnIdleTime = time.Minute
	cfg.HealthCheckPeriod = 5 * time.Second
	if db.log == nil {
		db.log = slog.New(slog.DiscardHandler)
	}
	// Count round trips (a client write followed by a read) so tests and
	// benchmarks report them instead of guessing.
	dial := cfg.ConnConfig.DialFunc
	if dial == nil {
		d := &net.Dialer{KeepAlive: 5 * time.Minute, Timeout: 5 * time.Second}
		dial = d.DialContext
	}
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c, trips: &db.trips}, nil
	}
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db.dir = newDirectory(pool)
	share := o.TenantShare
	if share <= 0 {
		share = max(1, int(cfg.MaxConns)*3/4)
	}
	anon := o.AnonymousShare
	if anon <= 0 {
		anon = max(1, int(cfg.MaxConns)/4)
	}
	db.share = newFairShare(share, anon)
	return db, nil
}

// Close closes every pool.
func (db *DB) Close() { db.dir.close() }

// RoundTrips returns the number of database round trips made so far.
func (db *DB) RoundTrips() int64 { return db.trips.Load() }

// Ping checks that the database answers and is migrated to the version this
// binary embeds (for /readyz).
func (db *DB) Ping(ctx context.Context) error {
	var v int64
	err := db.dir.platform().QueryRow(ctx,
		`SELECT coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&v)
	if err != nil {
		return classify(err)
	}
	if want := SchemaVersion(); v < want {
		return fmt.Errorf("postgres: schema at version %d, binary needs %d: run tenantd migrate", v, want)
	}
	return nil
}

// RoleProblems returns why the connected role must not run the server: it
// is a superuser, can bypass RLS, owns a tenant table, can become a role
// that does, or lacks tenantd_app. Empty means safe. `tenantd serve` refuses
// to start otherwise.
func (db *DB) RoleProblems(ctx context.Context) ([]string, error) {
	var super, bypass, app, owner bool
	var owned []string
	err := db.dir.platform().QueryRow(ctx, roleCheckSQL).Scan(&super, &bypass, &app, &owner, &owned)
	if err != nil {
		return nil, fmt.Errorf("postgres: check role: %w", err)
	}
	var problems []string
	if super {
		problems = append(problems, "the role is a superuser (superusers bypass Row-Level Security)")
	}
	if bypass {
		problems = append(problems, "the role has BYPASSRLS")
	}
	if !app {
		problems = append(problems, "the role is not a member of tenantd_app")
	}
	if owner {
		problems = append(problems, "the role can act as tenantd_owner or tenantd_platform")
	}
	if len(owned) > 0 {
		problems = append(problems, "the role owns tenant tables: "+strings.Join(owned, ", "))
	}
	return problems, nil
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
