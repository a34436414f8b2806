package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantd/tenantd/internal/pgcluster"
	"github.com/tenantd/tenantd/postgres"
)

// The embedded default: a private PostgreSQL cluster in $TENANTD_DATA/pg,
// holding the database tenantd, which the server reaches as the login role
// tenantd_server over the cluster's unix socket (trusted there, and only the
// cluster's OS user and root may enter the socket directory).
const (
	embeddedDBName = "tenantd"
	embeddedRole   = "tenantd_server"
	portFile       = "port" // in $TENANTD_DATA/pg: the port to reuse at the next start
	stopTimeout    = 30 * time.Second
)

// embedded is the embedded cluster as one command uses it.
type embedded struct {
	dir      string             // $TENANTD_DATA/pg, absolute
	cluster  *pgcluster.Cluster // nil: another process runs it; we only connect
	superURL string             // superuser "postgres", database tenantd, unix socket
	appURL   string             // tenantd_server, database tenantd, unix socket
	log      *slog.Logger
}

// openEmbedded starts the embedded cluster, creates and migrates the
// database and makes sure the login role exists.
//
// With shared (operator commands), a cluster another process holds (a
// running serve) is used through its socket instead; it is not migrated,
// since its owner did that when it started. Without shared (serve), a held
// cluster is an error naming the directory.
func openEmbedded(ctx context.Context, c *cli, shared bool) (*embedded, error) {
	data, err := prepareDataDir(c)
	if err != nil {
		return nil, err
	}
	e := &embedded{dir: filepath.Join(data, "pg"), log: c.log}
	cl, err := e.start(ctx)
	if errors.Is(err, pgcluster.ErrLocked) {
		if !shared {
			return nil, fmt.Errorf("another tenantd is using %s: stop it first, or give this one its own TENANTD_DATA (%w)", e.dir, err)
		}
		host, port, rerr := runningCluster(e.dir)
		if rerr != nil {
			return nil, fmt.Errorf("another tenantd holds %s, and its PostgreSQL cannot be reached: %w", e.dir, rerr)
		}
		c.log.Debug("using the embedded cluster of the running tenantd", "socket_dir", host, "port", port)
		e.superURL = socketURL("postgres", host, port)
		e.appURL = socketURL(embeddedRole, host, port)
		return e, nil
	}
	if err != nil {
		return nil, err
	}
	e.cluster = cl
	e.superURL = cl.SuperuserURL(embeddedDBName)
	e.appURL = postgres.WithUser(e.superURL, embeddedRole)
	if err := e.bootstrap(ctx); err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

// prepareDataDir creates TENANTD_DATA and returns it, absolute. As root,
// PostgreSQL runs as the postgres user: a data dir created here lets it in
// (0711: enter, not list) so the cluster can live in pg/. An existing data
// dir keeps its mode; where that user cannot reach pg/ (a clone in root's
// home), pgcluster keeps the cluster in a directory of its own and links pg
// to it.
func prepareDataDir(c *cli) (string, error) {
	data, err := filepath.Abs(c.dataDir())
	if err != nil {
		return "", err
	}
	mode := os.FileMode(0o700)
	if os.Geteuid() == 0 {
		mode = 0o711
	}
	if err := os.MkdirAll(data, mode); err != nil {
		return "", fmt.Errorf("TENANTD_DATA: %w", err)
	}
	return data, nil
}

// start starts the cluster on the port it used last time when that port is
// free, else on a new one, and records the port.
func (e *embedded) start(ctx context.Context) (*pgcluster.Cluster, error) {
	port := readPort(filepath.Join(e.dir, portFile))
	if port != 0 && !portFree(port) {
		if _, p, err := runningCluster(e.dir); err != nil || p != port {
			// Not by our own cluster, which Start would report as locked.
			e.log.Warn("the embedded cluster's previous port is taken; picking another", "port", port)
		}
		port = 0
	}
	opts := pgcluster.Options{DataDir: e.dir, Port: port, Logger: e.log}
	cl, err := pgcluster.Start(ctx, opts)
	if err != nil && port != 0 && strings.Contains(err.Error(), "could not bind") {
		e.log.Warn("the embedded cluster's previous port was taken meanwhile; picking another", "port", port)
		opts.Port = 0
		cl, err = pgcluster.Start(ctx, opts)
	}
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(e.dir, portFile), []byte(strconv.Itoa(cl.Port())+"\n"), 0o600); err != nil {
		e.log.Warn("could not record the embedded cluster's port", "err", err)
	}
	e.log.Info("embedded PostgreSQL cluster running", "dir", e.dir, "socket_dir", cl.Host(), "port", cl.Port(),
		"psql", fmt.Sprintf("psql -h %s -p %d -U postgres %s", cl.Host(), cl.Port(), embeddedDBName))
	return cl, nil
}

// bootstrap creates the database, migrates it and ensures the login role.
func (e *embedded) bootstrap(ctx context.Context) error {
	if err := ensureDatabase(ctx, e.cluster.SuperuserURL("postgres"), embeddedDBName); err != nil {
		return err
	}
	if err := postgres.Migrate(ctx, e.superURL, e.log); err != nil {
		return err
	}
	return postgres.EnsureLoginRole(ctx, e.superURL, embeddedRole, "")
}

// stop stops the cluster if this process started it.
func (e *embedded) stop() {
	if e == nil || e.cluster == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := e.cluster.Stop(ctx); err != nil {
		e.log.Error("stopping the embedded cluster", "err", err)
		return
	}
	e.log.Info("embedded PostgreSQL cluster stopped", "dir", e.dir)
}

// ensureDatabase creates database name unless it exists. The one statement
// of cmd/tenantd: there is no database to hand to package postgres yet.
func ensureDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("embedded cluster: %w", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("embedded cluster: %w", err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: created meanwhile
		return nil
	}
	if err != nil {
		return fmt.Errorf("embedded cluster: create database %s: %w", name, err)
	}
	return nil
}

// runningCluster finds the socket directory and port of the cluster another
// process runs in dir, from PostgreSQL's own postmaster.pid (line 4: port,
// line 5: first socket directory), which also covers the short /tmp socket
// directory pgcluster uses when dir/sock would be too long a socket path.
func runningCluster(dir string) (host string, port int, err error) {
	b, err := os.ReadFile(filepath.Join(dir, "pgdata", "postmaster.pid"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", 0, errors.New("it is not running (yet): try again in a moment")
		}
		return "", 0, err
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 5 {
		return "", 0, errors.New("it is still starting: try again in a moment")
	}
	port, err = strconv.Atoi(strings.TrimSpace(lines[3]))
	host = strings.TrimSpace(lines[4])
	if err != nil || port <= 0 || host == "" {
		return "", 0, fmt.Errorf("unexpected postmaster.pid in %s", dir)
	}
	return host, port, nil
}

// socketURL is a connection string to the tenantd database as user over a
// unix socket directory.
func socketURL(user, host string, port int) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(user),
		Path:     "/" + embeddedDBName,
		RawQuery: url.Values{"host": {host}, "port": {strconv.Itoa(port)}, "sslmode": {"disable"}}.Encode(),
	}
	return u.String()
}

func readPort(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	p, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || p <= 0 || p > 65535 {
		return 0
	}
	return p
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
