package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies every pending migration, using a connection string of a
// role that may create roles and tables (a superuser, or the cluster owner).
// Tables end up owned by tenantd_owner, never by the role the server uses.
func Migrate(ctx context.Context, adminURL string, log *slog.Logger) error {
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		return fmt.Errorf("migrate: parse MIGRATE_DATABASE_URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	return migrateDB(ctx, db, log)
}

// Migrate applies every pending migration to every cell of the directory,
// one cell after the other, each as its MigrateURL's role.
func (d *Directory) Migrate(ctx context.Context, log *slog.Logger) error {
	for _, c := range d.all() {
		if c.MigrateURL == "" {
			return fmt.Errorf("migrate: cell %s: no URL of a role that may migrate it (MIGRATE_DATABASE_URL)", c.Name)
		}
		cellLog := log
		if log != nil {
			cellLog = log.With("cell", c.Name)
		}
		if err := Migrate(ctx, c.MigrateURL, cellLog); err != nil {
			return fmt.Errorf("cell %s: %w", c.Name, err)
		}
	}
	return nil
}

func migrateDB(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	// Two servers starting at once must not both migrate one database.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		if log != nil {
			log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
		}
	}
	return nil
}

// SchemaVersion returns the newest migration version embedded in the binary.
func SchemaVersion() int64 {
	entries, _ := migrations.ReadDir("migrations")
	var newest int64
	for _, e := range entries {
		var v int64
		if _, err := fmt.Sscanf(e.Name(), "%d_", &v); err == nil && v > newest {
			newest = v
		}
	}
	return newest
}
