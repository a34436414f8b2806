package postgres

import (
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Directory maps a tenant to the database ("cell") that holds its rows.
// Today every tenant lives in the shared cell; callers ask the directory
// anyway, so placing large or regional tenants in dedicated cells
// changes this file and no caller.
type Directory struct {
	shared *pgxpool.Pool
}

func newDirectory(shared *pgxpool.Pool) *Directory { return &Directory{shared: shared} }

// cellFor returns the pool of the cell that holds tenantID.
func (d *Directory) cellFor(tenantID uuid.UUID) *pgxpool.Pool { return d.shared }

// platform returns the pool used for platform functions (tenant lookup,
// provisioning): the directory's home cell.
func (d *Directory) platform() *pgxpool.Pool { return d.shared }

func (d *Directory) close() { d.shared.Close() }
