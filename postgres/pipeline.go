package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Every statement the door sends goes through this file: the statements of
// one round trip are queued, sent as one pipeline, and their results read in
// order by readResults, the package's only batch loop.

// queued is one statement of a pipeline and how its result is read.
type queued struct {
	sql  string
	args []any
	// scan reads the statement's rows; nil ignores them.
	scan func(pgx.Rows) error
}

var (
	beginTx  = queued{sql: "BEGIN"}
	commitTx = queued{sql: "COMMIT"}
)

// statement is st as a pipeline entry (none when st has no SQL).
func (st Statement) queued() []queued {
	if st.SQL == "" {
		return nil
	}
	return []queued{{sql: st.SQL, args: st.Args, scan: st.Scan}}
}

// batch queues qs, then more (whose results the caller reads itself), and
// counts them (DB.Statements).
func (db *DB) batch(qs []queued, more ...queued) *pgx.Batch {
	b := &pgx.Batch{}
	for _, q := range append(qs[:len(qs):len(qs)], more...) {
		b.Queue(q.sql, wireArgs(q.args)...)
	}
	db.statements.Add(int64(b.Len()))
	return b
}

// readResults reads the results of qs from br, in the order they were
// queued, stopping at the first error. A COMMIT that the server answered
// with ROLLBACK (it does, without an error, for an aborted transaction) is
// an error.
func readResults(br pgx.BatchResults, qs []queued) error {
	for _, q := range qs {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		if q.scan != nil {
			err = q.scan(rows)
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
		if err != nil {
			return err
		}
		if q.sql == commitTx.sql && rows.CommandTag().String() != "COMMIT" {
			return errors.New("postgres: transaction was rolled back")
		}
	}
	return nil
}

// pipeline sends qs on conn in one round trip and reads every result. On an
// error the connection may be left inside a transaction: see rollback.
func (db *DB) pipeline(ctx context.Context, conn *pgxpool.Conn, qs []queued) error {
	br := conn.SendBatch(ctx, db.batch(qs))
	err := readResults(br, qs)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// rollback leaves the connection idle, or closes it so the pool drops it.
// A failed pipeline can leave the server inside an aborted transaction.
func rollback(conn *pgxpool.Conn) {
	pc := conn.Conn().PgConn()
	if pc.IsClosed() || pc.TxStatus() == 'I' {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
	defer cancel()
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil || pc.TxStatus() != 'I' {
		_ = conn.Conn().Close(ctx)
	}
}

const rollbackTimeout = 5 * time.Second

// wireArgs returns args with every uuid.UUID as a pgtype.UUID, which pgx
// encodes in binary directly; a uuid.UUID it encodes through its
// driver.Valuer (text, then parsed again), which cost a tenth of the
// server's CPU in a point read (BENCHMARKS.md). args is not changed.
func wireArgs(args []any) []any {
	var out []any
	for i, a := range args {
		var w any
		switch v := a.(type) {
		case uuid.UUID:
			w = pgtype.UUID{Bytes: v, Valid: true}
		case []uuid.UUID:
			ids := make([]pgtype.UUID, len(v))
			for j, id := range v {
				ids[j] = pgtype.UUID{Bytes: id, Valid: true}
			}
			w = ids
		default:
			if out != nil {
				out[i] = a
			}
			continue
		}
		if out == nil {
			out = make([]any, len(args))
			copy(out, args[:i])
		}
		out[i] = w
	}
	if out == nil {
		return args
	}
	return out
}
