package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/tenantd/tenantd/postgres"
)

// cells is the deployment's directory of databases: today one cell, the
// database of DATABASE_URL (or the embedded cluster's), migrated through
// MIGRATE_DATABASE_URL (or the embedded cluster's superuser). Adding cells
// changes this function and package postgres's directory, not the commands:
// migrate, serve's readiness, verify-isolation and tenant creation ask the
// directory for every cell.
func cells(appURL, migrateURL string) *postgres.Directory {
	return postgres.NewDirectory(postgres.Cell{URL: appURL, MigrateURL: migrateURL})
}

// database is the database an operator command works on.
type database struct {
	*postgres.DB
	emb *embedded // nil with DATABASE_URL
}

// openDatabase connects as the application role: DATABASE_URL, else the
// embedded cluster (started for the command, or the running serve's).
func openDatabase(ctx context.Context, c *cli) (*database, error) {
	d := &database{}
	url := c.env("DATABASE_URL")
	if url == "" {
		if c.env("MIGRATE_DATABASE_URL") != "" {
			return nil, errors.New("MIGRATE_DATABASE_URL is set but DATABASE_URL is not: set both for an external database, or neither for the embedded cluster")
		}
		emb, err := openEmbedded(ctx, c, true)
		if err != nil {
			return nil, err
		}
		d.emb, url = emb, emb.appURL
	}
	db, err := postgres.OpenDirectory(ctx, cells(url, ""), postgres.Options{Logger: c.log, MaxConns: 4})
	if err != nil {
		d.emb.stop()
		return nil, err
	}
	d.DB = db
	if err := db.Ping(ctx); err != nil {
		d.close()
		return nil, fmt.Errorf("database not ready: %w", err)
	}
	return d, nil
}

// close closes the pool, then stops the embedded cluster if we started it.
func (d *database) close() {
	if d.DB != nil {
		d.DB.Close()
	}
	d.emb.stop()
}

// cmdMigrate applies pending migrations.
func cmdMigrate(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "migrate", "migrate")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if url := c.env("MIGRATE_DATABASE_URL"); url != "" {
		if err := cells(c.env("DATABASE_URL"), url).Migrate(ctx, c.log); err != nil {
			return err
		}
	} else {
		if c.env("DATABASE_URL") != "" {
			return errors.New("DATABASE_URL is set but MIGRATE_DATABASE_URL is not: migrations need a role that may create roles and tables (a superuser)")
		}
		emb, err := openEmbedded(ctx, c, true) // migrates when it starts the cluster
		if err != nil {
			return err
		}
		defer emb.stop()
		if emb.cluster == nil {
			if err := cells(emb.appURL, emb.superURL).Migrate(ctx, c.log); err != nil {
				return err
			}
			if err := postgres.EnsureLoginRole(ctx, emb.superURL, embeddedRole, ""); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(c.stdout, "database migrated to schema version %d\n", postgres.SchemaVersion())
	return nil
}
