package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantd/tenantd"
)

// retryAfterUnavailable is what a client is told to wait when the database
// cannot be reached.
const retryAfterUnavailable = 2 * time.Second

// classify turns a database error into the application's vocabulary. It is
// the only place that knows SQLSTATEs; SQL text never reaches a client.
func classify(err error) error {
	e := classifyCode(err)
	if ae, ok := e.(*tenantd.Error); ok && ae != err && ae.Cause == nil {
		ae.Cause = err
	}
	return e
}

func classifyCode(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := tenantd.AsError(err); ok {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return tenantd.Errorf(tenantd.ENOTFOUND, "Not found.")
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "TDLIM":
			return &tenantd.Error{Code: tenantd.ELIMIT, Limit: pgErr.Detail,
				Message: "The tenant's " + pgErr.Detail + " limit has been reached."}
		case pgErr.Code == "TDSTL":
			return tenantd.ErrStaleScope
		case pgErr.Code == "TDOWN":
			return tenantd.Errorf(tenantd.ECONFLICT, "The last owner cannot be demoted, disabled or deactivated.")
		case pgErr.Code == "23505":
			return tenantd.Errorf(tenantd.ECONFLICT, "A resource with the same unique value already exists.")
		case pgErr.Code == "23503":
			return tenantd.Errorf(tenantd.ENOTFOUND, "A referenced resource does not exist.")
		case pgErr.Code == "23514", pgErr.Code == "22P02", pgErr.Code == "22001", pgErr.Code == "22021":
			return tenantd.Errorf(tenantd.EINVALID, "The input violates a constraint.")
		case pgErr.Code == "42501":
			// Row-Level Security or a missing privilege refused the
			// statement: the database caught what the handler did not.
			return tenantd.Errorf(tenantd.EFORBIDDEN, "Not allowed.")
		case pgErr.Code == "40001", pgErr.Code == "40P01":
			// A serialization failure or deadlock: nothing was changed and
			// the same request can simply be retried.
			return &tenantd.Error{Code: tenantd.EUNAVAILABLE, Message: "A concurrent change conflicted; retry.", RetryAfter: time.Second}
		case pgErr.Code == "57014":
			return &tenantd.Error{Code: tenantd.EUNAVAILABLE, Message: "The request took too long.", RetryAfter: retryAfterUnavailable}
		}
	}
	if isConnError(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "conn closed") {
		return &tenantd.Error{Code: tenantd.EUNAVAILABLE, Message: "The database is unavailable.", RetryAfter: retryAfterUnavailable}
	}
	return err
}

func asPgError(err error, target **pgconn.PgError) bool { return errors.As(err, target) }

func isNetError(err error) bool {
	var ne net.Error
	var oe *net.OpError
	var ce *pgconn.ConnectError
	return errors.As(err, &ne) || errors.As(err, &oe) || errors.As(err, &ce)
}
