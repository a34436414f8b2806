// Package pgtest gives each test package a throwaway PostgreSQL cluster and
// each test its own database, so that tests run in parallel against a real
// server without seeing each other's data.
//
// With PGTEST_KEEP=1 the cluster's directory and the tests' databases are
// kept for inspection, and the directory is printed at the end.
package pgtest

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantd/tenantd/internal/pgcluster"
)

var (
	cluster *pgcluster.Cluster
	admin   *pgxpool.Pool // superuser connections to the "postgres" database
	keep    = os.Getenv("PGTEST_KEEP") == "1"
	dbSeq   atomic.Int64

	templatesMu sync.Mutex
	templates   = map[string]*template{}
)

type template struct {
	once sync.Once
	name string
	err  error
}

// Main starts one cluster for the whole test package, runs the tests, stops
// the cluster and deletes its directory. Use it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	os.Exit(run(m, nil))
}

// MainDurable is Main for tests that crash the server on purpose and check
// that nothing acknowledged is lost: commits wait for their WAL to be
// written (synchronous_commit = on), so an immediate shutdown loses none.
func MainDurable(m *testing.M) {
	os.Exit(run(m, map[string]string{"synchronous_commit": "on"}))
}

func run(m *testing.M, overrides map[string]string) int {
	if fuzzWorker() {
		// A fuzz worker runs only fuzz targets and is killed when the
		// fuzzing ends: a cluster started here would be left behind.
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	defer func() {
		if keep {
			fmt.Fprintln(os.Stderr, "pgtest: PGTEST_KEEP=1: kept the cluster in", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	// MkdirTemp makes it 0700, but as root the cluster runs as the postgres user.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	ctx := context.Background()
	// Durability is pointless for data deleted at the end, and costly.
	settings := map[string]string{
		"fsync":              "off",
		"synchronous_commit": "off",
		"full_page_writes":   "off",
		"max_connections":    "200",
	}
	maps.Copy(settings, overrides)
	c, err := pgcluster.Start(ctx, pgcluster.Options{
		DataDir:  dir,
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Settings: settings,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	defer func() {
		if err := c.Stop(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}()
	if admin, err = pgxpool.New(ctx, c.SuperuserURL("postgres")); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	defer admin.Close()
	cluster = c
	return m.Run()
}

// Cluster returns the test package's cluster.
func Cluster(t testing.TB) *pgcluster.Cluster {
	t.Helper()
	if cluster == nil {
		t.Fatal("pgtest: no cluster: call pgtest.Main(m) from the package's TestMain")
	}
	return cluster
}

// NewDatabase creates an empty database with a unique name (a copy of the
// database template if it is not ""), drops it when the test ends and
// returns its name. Connect to it with Cluster(t).SuperuserURL(name).
func NewDatabase(t testing.TB, template string) string {
	t.Helper()
	Cluster(t)
	name := dbName(fmt.Sprintf("t%d_%s", dbSeq.Add(1), t.Name()))
	sql := "CREATE DATABASE " + ident(name)
	if template != "" {
		sql += " TEMPLATE " + ident(template)
	}
	if _, err := admin.Exec(t.Context(), sql); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
	t.Cleanup(func() {
		if keep {
			t.Logf("pgtest: PGTEST_KEEP=1: kept database %s", name)
			return
		}
		// FORCE: a connection the test forgot to close must not fail it here.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return name
}

// Template returns the name of a template database, built by build the first
// time key is asked for in this test package; NewDatabase(t, name) then
// clones it, much faster than building every test's database from scratch.
// build receives a superuser URL of the template database; it must close its
// connections (any left open are terminated).
func Template(t testing.TB, key string, build func(ctx context.Context, superuserURL string) error) string {
	t.Helper()
	c := Cluster(t)
	templatesMu.Lock()
	tp := templates[key]
	if tp == nil {
		tp = &template{}
		templates[key] = tp
	}
	templatesMu.Unlock()
	// Not t.Context(): the template outlives the test that happens to build it.
	tp.once.Do(func() { tp.name, tp.err = buildTemplate(context.Background(), c, key, build) })
	if tp.err != nil {
		t.Fatalf("pgtest: building template %q: %v", key, tp.err)
	}
	return tp.name
}

func buildTemplate(ctx context.Context, c *pgcluster.Cluster, key string, build func(context.Context, string) error) (string, error) {
	h := fnv.New32a()
	h.Write([]byte(key))
	name := dbName(fmt.Sprintf("tpl_%x_%s", h.Sum32(), key)) // the hash keeps similar keys apart
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident(name)); err != nil {
		return "", err
	}
	if err := build(ctx, c.SuperuserURL(name)); err != nil {
		return "", err
	}
	// CREATE DATABASE ... TEMPLATE fails while anyone is connected to the
	// template, so shut the door and evict whatever build left open.
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+ident(name)+" WITH ALLOW_CONNECTIONS false IS_TEMPLATE true"); err != nil {
		return "", err
	}
	_, err := admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
	return name, err
}

// dbName makes s a database name that needs no quoting and fits in 63 bytes.
func dbName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '_'
	}, s)
	return s[:min(len(s), 63)]
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// fuzzWorker reports whether this process is a `go test -fuzz` worker.
func fuzzWorker() bool {
	for _, a := range os.Args {
		if strings.HasPrefix(a, "-test.fuzzworker") {
			return true
		}
	}
	return false
}
