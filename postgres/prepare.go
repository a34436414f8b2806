package postgres

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"
)

// maxPreparedPerConn bounds the statements prepared on one connection, so
// that SQL built from many filter combinations cannot grow a connection's
// memory without end; past it, statements run unprepared.
const maxPreparedPerConn = 256

// preparedSet remembers which statements each pooled connection has
// prepared. A prepared statement is planned once per connection (and
// PostgreSQL switches to a generic plan after five executions), so the RLS
// policies' functions are not inlined and planned again on every request.
type preparedSet struct {
	mu    sync.Mutex
	conns map[*pgx.Conn]map[string]struct{}
}

func newPreparedSet() *preparedSet {
	return &preparedSet{conns: make(map[*pgx.Conn]map[string]struct{})}
}

// prepare makes sure sql is prepared on conn (one round trip the first
// time on that connection, none after).
func (p *preparedSet) prepare(ctx context.Context, c *pgx.Conn, sql string) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	stmts := p.conns[c]
	if stmts == nil {
		stmts = make(map[string]struct{})
		p.conns[c] = stmts
	}
	_, done := stmts[sql]
	full := len(stmts) >= maxPreparedPerConn
	p.mu.Unlock()
	if done || full {
		return nil
	}
	if _, err := c.Prepare(ctx, sql, sql); err != nil {
		return err
	}
	p.mu.Lock()
	stmts[sql] = struct{}{}
	p.mu.Unlock()
	return nil
}

func (p *preparedSet) forget(c *pgx.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}
