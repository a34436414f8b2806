package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantd/tenantd"
)

// Tx is a transaction with the tenant context set. It is handed to InTenant's
// callback and must not be kept after it returns.
type Tx struct {
	db      *DB
	conn    *pgxpool.Conn
	pending []queued // BEGIN, SET LOCAL and the session guard, not sent yet
	events  []tenantd.Event
	scope   tenantd.Scope
	failed  bool
	copies  int // CopyIn calls, naming their temporary tables
}

// TenantID is the tenant every statement of this transaction is scoped to.
func (tx *Tx) TenantID() uuid.UUID { return tx.scope.TenantID }

// Scope is the scope the transaction runs with.
func (tx *Tx) Scope() tenantd.Scope { return tx.scope }

// Audit queues an explicit audit event; it is inserted with the COMMIT, in
// the same round trip, and vanishes if the transaction rolls back.
func (tx *Tx) Audit(e tenantd.Event) { tx.events = append(tx.events, e) }

// Exec runs a statement that returns no rows.
func (tx *Tx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	rows.Close()
	return rows.CommandTag(), rows.Err()
}

// Query runs a statement; the first one of the transaction carries the
// context with it in the same round trip.
func (tx *Tx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if tx.failed {
		return nil, errTxFailed
	}
	if err := tx.db.prepareAll(ctx, tx.conn.Conn(), sql, false, len(tx.pending) > 0 && tx.scope.SessionID != uuid.Nil); err != nil {
		tx.failed = true
		return nil, err
	}
	if len(tx.pending) == 0 {
		tx.db.statements.Add(1)
		rows, err := tx.conn.Query(ctx, sql, wireArgs(args)...)
		if err != nil {
			tx.failed = true
		}
		return rows, err
	}
	pending := tx.pending
	tx.pending = nil
	br := tx.conn.SendBatch(ctx, tx.db.batch(pending, queued{sql: sql, args: args}))
	if err := readResults(br, pending); err != nil {
		br.Close()
		tx.failed = true
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		tx.failed = true
		return nil, err
	}
	return &batchRows{Rows: rows, br: br, tx: tx}, nil
}

// CopyIn inserts the rows of src into columns of table, under the
// transaction's tenant context, and returns how many it inserted. The bulk
// path for imports: PostgreSQL refuses COPY FROM into a table with
// row-level security, so CopyIn copies the rows into a temporary table of
// this transaction (ON COMMIT DROP; a rollback drops it too, and no other
// session can see it) and moves them with one INSERT … SELECT. The table's
// policies check every row (WITH CHECK: a row naming another tenant fails
// the whole transaction) and its triggers fire for every row as for any
// insert (audit events, usage limits). src is read as the COPY streams,
// never gathered in memory. table (optionally schema-qualified) and
// columns are the code's identifiers, never a client's.
//
// Round trips: the temporary table (carrying the context, if no statement
// has yet), COPY's column types, the COPY, and the INSERT with the
// temporary table's drop, which frees its space before the COMMIT.
func (tx *Tx) CopyIn(ctx context.Context, table string, columns []string, src pgx.CopyFromSource) (int64, error) {
	if len(columns) == 0 {
		return 0, errors.New("postgres: CopyIn without columns")
	}
	quoted := make([]string, len(columns))
	for i, c := range columns {
		quoted[i] = pgx.Identifier{c}.Sanitize()
	}
	list := strings.Join(quoted, ", ")
	target := pgx.Identifier(strings.Split(table, ".")).Sanitize()
	tx.copies++
	temp := pgx.Identifier{"pg_temp", fmt.Sprint("tenantd_copy_", tx.copies)}
	if err := tx.send(ctx, queued{sql: "CREATE TEMPORARY TABLE " + temp.Sanitize() + " ON COMMIT DROP AS SELECT " +
		list + " FROM " + target + " WITH NO DATA"}); err != nil {
		return 0, err
	}
	tx.db.statements.Add(1)
	if _, err := tx.conn.CopyFrom(ctx, temp, columns, src); err != nil {
		tx.failed = true
		return 0, err
	}
	var n int64
	err := tx.send(ctx,
		queued{sql: "INSERT INTO " + target + " (" + list + ") SELECT " + list + " FROM " + temp.Sanitize(),
			scan: func(rows pgx.Rows) error {
				rows.Close()
				n = rows.CommandTag().RowsAffected()
				return rows.Err()
			}},
		queued{sql: "DROP TABLE " + temp.Sanitize()})
	return n, err
}

// send pipelines qs in one round trip, after whatever of the context has
// not been sent yet.
func (tx *Tx) send(ctx context.Context, qs ...queued) error {
	if tx.failed {
		return errTxFailed
	}
	if err := tx.db.prepareAll(ctx, tx.conn.Conn(), "", false, len(tx.pending) > 0 && tx.scope.SessionID != uuid.Nil); err != nil {
		tx.failed = true
		return err
	}
	qs = append(tx.pending, qs...)
	tx.pending = nil
	if err := tx.db.pipeline(ctx, tx.conn, qs); err != nil {
		tx.failed = true
		return err
	}
	return nil
}

var errTxFailed = errors.New("postgres: transaction already failed")

// QueryRow runs a statement expected to return at most one row.
func (tx *Tx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := tx.Query(ctx, sql, args...)
	return &row{rows: rows, err: err}
}

// commit sends the explicit events and COMMIT in one round trip (with the
// context first, if no statement has sent it: a transaction of events only).
func (tx *Tx) commit(ctx context.Context) error {
	if len(tx.events) == 0 && len(tx.pending) > 0 {
		return nil // nothing was sent: nothing to commit
	}
	if err := tx.db.prepareAll(ctx, tx.conn.Conn(), "", len(tx.events) > 0, len(tx.pending) > 0 && tx.scope.SessionID != uuid.Nil); err != nil {
		rollback(tx.conn)
		return err
	}
	qs := append(tx.pending, eventStatements(tx.scope, tx.events)...)
	tx.pending = nil
	if err := tx.db.pipeline(ctx, tx.conn, append(qs, commitTx)); err != nil {
		rollback(tx.conn)
		return err
	}
	return nil
}

func (tx *Tx) abort() {
	if len(tx.pending) > 0 {
		return
	}
	rollback(tx.conn)
}

// batchRows closes the batch with the rows, so the connection is free for
// the next statement of the transaction.
type batchRows struct {
	pgx.Rows
	br     pgx.BatchResults
	tx     *Tx
	closed bool
	err    error
}

func (r *batchRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.err = r.Rows.Err()
	if err := r.br.Close(); r.err == nil {
		r.err = err
	}
	if r.err != nil {
		r.tx.failed = true
	}
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *batchRows) Err() error {
	if r.closed {
		return r.err
	}
	return r.Rows.Err()
}

type row struct {
	rows pgx.Rows
	err  error
}

func (r *row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
