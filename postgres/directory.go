package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Directory maps a tenant to the database ("cell") that holds its rows, and
// lists every cell for the platform operations, which ask it for each cell
// instead of using one pool: Ping (and so readiness), RoleProblems,
// Migrate, VerifyIsolation, and CreateTenant, which asks where a new tenant
// goes. Today every tenant lives in the home cell, the first, which also
// holds the platform tables (signing keys, security events); placing large
// or regional tenants in cells of their own changes this file (cellFor,
// placeNew) and the configuration that lists the cells, not the callers.
type Directory struct {
	cells []*cell // the home cell first
}

// Cell is one database of the deployment and how to reach it.
type Cell struct {
	// Name tells the cell apart in findings and errors.
	Name string
	// URL connects as the application's login role (a member of
	// tenantd_app only).
	URL string
	// MigrateURL connects as a role that may create roles and tables (a
	// superuser, or the cluster owner); only Migrate uses it.
	MigrateURL string
}

// cell is a Cell of an open DB.
type cell struct {
	Cell
	pool *pgxpool.Pool
}

// HomeCell is the name of the first cell of a directory.
const HomeCell = "home"

// NewDirectory lists a deployment's cells: home holds the platform tables
// and, today, every tenant. A cell without a name is named after its place
// ("home", "cell2", …).
func NewDirectory(home Cell, others ...Cell) *Directory {
	d := &Directory{}
	for i, c := range append([]Cell{home}, others...) {
		if c.Name == "" {
			c.Name = HomeCell
			if i > 0 {
				c.Name = fmt.Sprint("cell", i+1)
			}
		}
		d.cells = append(d.cells, &cell{Cell: c})
	}
	return d
}

// cellFor returns the cell that holds tenantID.
func (d *Directory) cellFor(tenantID uuid.UUID) *cell { return d.cells[0] }

// placeNew returns the cell a new tenant is created in.
func (d *Directory) placeNew() *cell { return d.cells[0] }

// home returns the cell of the platform tables.
func (d *Directory) home() *cell { return d.cells[0] }

// all returns every cell, home first.
func (d *Directory) all() []*cell { return d.cells }

// open returns a copy of d with a pool for each cell; d itself stays a
// list of addresses, which Migrate and another Open can use.
func (d *Directory) open(ctx context.Context, db *DB, o Options) (*Directory, error) {
	open := &Directory{}
	for _, c := range d.cells {
		pool, err := openPool(ctx, c.URL, db, o)
		if err != nil {
			open.close()
			return nil, fmt.Errorf("postgres: cell %s: %w", c.Name, err)
		}
		open.cells = append(open.cells, &cell{Cell: c.Cell, pool: pool})
	}
	if len(open.cells) == 0 {
		return nil, errors.New("postgres: a directory without cells")
	}
	return open, nil
}

// openPool makes a cell's pool: statements through the extended protocol
// in pipelines (QueryExecModeExec) unless the URL sets
// default_query_exec_mode, round trips counted on db.trips.
func openPool(ctx context.Context, url string, db *DB, o Options) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if db.prepared != nil {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
		cfg.BeforeClose = func(c *pgx.Conn) { db.prepared.forget(c) }
	}
	if o.MaxConns > 0 && !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = o.MaxConns
	}
	cfg.MaxConnIdleTime = time.Minute
	cfg.HealthCheckPeriod = 5 * time.Second
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
	return pgxpool.NewWithConfig(ctx, cfg)
}

// maxConns is the size of the home cell's pool.
func (d *Directory) maxConns() int { return int(d.home().pool.Config().MaxConns) }

func (d *Directory) close() {
	for _, c := range d.cells {
		if c.pool != nil {
			c.pool.Close()
		}
	}
}
