// Package testenv gives tests a real, migrated tenantd database of their
// own: one throwaway PostgreSQL cluster per test package (pgtest), a
// migrated template built once, and a fresh clone of it per test, reached
// as a login role that is a member of tenantd_app only.
package testenv

import (
	"context"
	"testing"

	"github.com/tenantd/tenantd/internal/pgtest"
	"github.com/tenantd/tenantd/postgres"
)

// AppRole is the login role tests connect as, like `tenantd serve` does.
const AppRole = "tenantd_test_app"

// Env is one test's database.
type Env struct {
	DB       *postgres.DB
	Name     string // database name
	AdminURL string // superuser, for setting up attacks and inspecting
	AppURL   string // the application login role
}

// New returns a freshly migrated database for t, closed at cleanup.
func New(t testing.TB) *Env {
	t.Helper()
	name := pgtest.NewDatabase(t, migrated(t))
	c := pgtest.Cluster(t)
	admin := c.SuperuserURL(name)
	env := &Env{Name: name, AdminURL: admin, AppURL: postgres.WithUser(admin, AppRole)}
	db, err := postgres.Open(context.Background(), env.AppURL, postgres.Options{MaxConns: 8})
	if err != nil {
		t.Fatalf("testenv: open: %v", err)
	}
	t.Cleanup(db.Close)
	env.DB = db
	return env
}

// migrated is the template database every Env is a copy of. Building it
// also creates the cluster's roles and AppRole.
func migrated(t testing.TB) string {
	t.Helper()
	return pgtest.Template(t, "tenantd-migrated", func(ctx context.Context, superuserURL string) error {
		if err := postgres.Migrate(ctx, superuserURL, nil); err != nil {
			return err
		}
		return postgres.EnsureLoginRole(ctx, superuserURL, AppRole, "")
	})
}

// NewCells returns n empty, unmigrated databases of the test cluster as the
// cells of a deployment: each reached as AppRole, and migrated as the
// superuser. They are dropped at cleanup.
func NewCells(t testing.TB, n int) []postgres.Cell {
	t.Helper()
	migrated(t) // the cluster-wide roles exist, so migrating a cell creates none
	c := pgtest.Cluster(t)
	var cells []postgres.Cell
	for range n {
		super := c.SuperuserURL(pgtest.NewDatabase(t, ""))
		cells = append(cells, postgres.Cell{URL: postgres.WithUser(super, AppRole), MigrateURL: super})
	}
	return cells
}
