package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantd/tenantd"
)

// This file is the one door to tenant data. Every statement that touches a
// tenant table runs inside a transaction that this file opened with the
// tenant context already set by SET LOCAL, which PostgreSQL forgets at the end
// of the transaction, so a pooled connection (or a PgBouncer server
// connection in transaction mode) never carries one request's tenant into
// another's.
//
// Round trips: the BEGIN and the SET LOCAL statements are pipelined with the
// first statement of the transaction, and explicit audit events with the
// COMMIT. Run sends everything (context, statement, events, COMMIT) in one
// round trip; InTenant costs one round trip per statement plus one for the
// COMMIT. Every pipeline is read by one loop (pipeline.go).
//
// The door has two more entrances, for work that is no tenant's yet or
// not a tenant's at all: provision (a platform function creates a tenant,
// then its first statements run under its context, in one transaction) and
// onCell (platform work on one cell, with no tenant context, so RLS shows
// no tenant's rows). Nothing else in the repository reaches a pool, opens a
// transaction or sets the context: TestOneDoor checks it on the source.
//
// Why SET LOCAL and not set_config(): on Citus only SET LOCAL reaches the
// workers (with citus.propagate_set_commands = 'local' on the role, set by the
// migrations); set_config() does not, and queries silently return no rows.
// The one SET LOCAL (app.context, the whole context in one setting) is its
// own statement in the pipeline, never part of a multi-statement
// simple-protocol string, which Citus also breaks.

// prelude returns what the door sends after BEGIN: one SET LOCAL carrying
// the whole context (app.context, read by the policy functions of
// migration 00019), and, for a scope with a session, the session guard.
// Every byte of the literal comes from a parsed UUID, a fixed role name or
// base64, so nothing a client sends can break out of the quotes.
func prelude(s tenantd.Scope) ([]queued, error) {
	setting, err := contextSetting(s)
	if err != nil {
		return nil, err
	}
	out := []queued{{sql: "SET LOCAL app.context = '" + setting + "'"}}
	if s.SessionID != uuid.Nil {
		out = append(out, queued{sql: guardSessionSQL,
			args: []any{s.TenantID, s.UserID, s.SessionID, s.AccessVersion}})
	}
	return out, nil
}

// contextSetting is the value of app.context for s:
//
//	tenant ';' user ';' role ';' workspaces ';' request
//
// user is empty for the server; workspaces, for a member only, lists
// "<workspace>=<role>" pairs separated by commas; request is base64 of the
// audit metadata's JSON, which the row triggers store in every event.
func contextSetting(s tenantd.Scope) (string, error) {
	if s.TenantID == uuid.Nil {
		return "", errors.New("postgres: no tenant in scope")
	}
	role := s.Role
	if !tenantd.ValidTenantRole(role) && role != tenantd.RoleSystem {
		return "", fmt.Errorf("postgres: invalid role %q in scope", role)
	}
	var user string
	if s.UserID != uuid.Nil {
		user = s.UserID.String()
	}
	var ws []string
	if role == tenantd.RoleMember {
		for id, r := range s.Workspaces {
			if !tenantd.ValidWorkspaceRole(r) {
				return "", fmt.Errorf("postgres: invalid workspace role %q in scope", r)
			}
			ws = append(ws, id.String()+"="+r)
		}
		sort.Strings(ws)
	}
	// Capped here, as queueEvent caps them for explicit events, so no
	// client can grow the audit log by sending a big header.
	meta, err := json.Marshal(requestMeta{
		ActorType: s.Actor.Type, ActorID: clean(s.Actor.ID, maxActorID),
		RequestID: clean(s.Request.ID, maxRequestID), IP: s.Request.IP,
		UserAgent: clean(s.Request.UserAgent, maxUserAgent),
	})
	if err != nil {
		return "", err
	}
	return s.TenantID.String() + ";" + user + ";" + role + ";" + strings.Join(ws, ",") + ";" +
		base64.StdEncoding.EncodeToString(meta), nil
}

// requestMeta is what app.request_meta() reads back for the row triggers'
// audit events.
type requestMeta struct {
	ActorType string `json:"actor_type"`
	ActorID   string `json:"actor_id"`
	RequestID string `json:"request_id"`
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
}

// guardSessionSQL is the session guard: one lookup of the session by its
// primary key, which raises SQLSTATE TDSTL (app.raise_stale_scope) when the
// session is revoked or expired, or its access version moved on since the
// principal was read (triggers bump it whenever the user's role or status,
// their memberships, the tenant's status (migration 00019) or the tenant's
// configuration (00021) change). A
// plain statement, not a function, so a live session costs no plpgsql call.
const guardSessionSQL = `
SELECT app.raise_stale_scope()
 WHERE NOT EXISTS (SELECT FROM sessions
                    WHERE tenant_id = $1 AND id = $3 AND user_id = $2 AND access_version = $4
                      AND revoked_at IS NULL AND expires_at > now())`

// Statement is one SQL statement for Run. Without SQL, Run commits only
// the events.
type Statement struct {
	SQL  string
	Args []any
	// Scan reads the statement's rows; nil ignores them.
	Scan func(pgx.Rows) error
	// Events are explicit audit events committed with the statement.
	Events []tenantd.Event
}

// Run executes one statement for the scope's tenant in a transaction of its
// own, in one round trip: BEGIN, the context, the statement, its events and
// COMMIT are pipelined. Rows written by it are audited by the database's
// triggers in the same transaction. Use InTenant when a decision has to be
// made between statements. Without SQL, Run commits only the events.
func (db *DB) Run(ctx context.Context, s tenantd.Scope, st Statement) error {
	prelude, err := prelude(s)
	if err != nil {
		return err
	}
	conn, release, err := db.acquire(ctx, s)
	if err != nil {
		return err
	}
	defer release()
	return db.finish(ctx, conn, s, append([]queued{beginTx}, prelude...), st)
}

// finish sends head, then st, its events and COMMIT, in one round trip, on
// a connection inside (or, with BEGIN in head, about to be inside) s's
// transaction, and rolls back on failure.
func (db *DB) finish(ctx context.Context, conn *pgxpool.Conn, s tenantd.Scope, head []queued, st Statement) error {
	if err := db.prepareAll(ctx, conn.Conn(), st.SQL, len(st.Events) > 0, s.SessionID != uuid.Nil); err != nil {
		rollback(conn)
		return classify(err)
	}
	if err := db.pipeline(ctx, conn, append(head, closing(s, st)...)); err != nil {
		rollback(conn)
		return classify(err)
	}
	return nil
}

// closing is what ends a transaction of Run: the statement, its events and
// COMMIT.
func closing(s tenantd.Scope, st Statement) []queued {
	qs := append(st.queued(), eventStatements(s, st.Events)...)
	return append(qs, commitTx)
}

// PipelineOf returns the statements Run sends for st under s, in order and
// with their arguments: BEGIN, the context, the session guard, st, its
// events and COMMIT. It sends nothing: the benchmark replays the door's
// transaction from it with other clients (pgbench).
func PipelineOf(s tenantd.Scope, st Statement) ([]Statement, error) {
	prelude, err := prelude(s)
	if err != nil {
		return nil, err
	}
	qs := append(append([]queued{beginTx}, prelude...), closing(s, st)...)
	out := make([]Statement, len(qs))
	for i, q := range qs {
		out[i] = Statement{SQL: q.sql, Args: q.args}
	}
	return out, nil
}

// provision is the door for a tenant that does not exist yet: first, a
// platform statement that creates it (a SECURITY DEFINER function of
// platform.go, such as app.create_tenant), runs on cell c in a new
// transaction before any tenant context is set; next, called once first's
// rows are read, returns the new tenant's scope and a statement, which then
// run in the same transaction as Run would run them. Two round trips.
func (db *DB) provision(ctx context.Context, c *cell, first Statement, next func() (tenantd.Scope, Statement)) error {
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return classify(err)
	}
	defer conn.Release()
	if err := db.pipeline(ctx, conn, append([]queued{beginTx}, first.queued()...)); err != nil {
		rollback(conn)
		return classify(err)
	}
	s, st := next()
	prelude, err := prelude(s)
	if err != nil {
		rollback(conn)
		return err
	}
	return db.finish(ctx, conn, s, prelude, st)
}

// InTenant runs fn inside one transaction whose tenant context is set. fn
// gets a Tx, the only handle to tenant tables; it commits when fn returns
// nil and rolls back on an error, a panic or a cancelled context.
func (db *DB) InTenant(ctx context.Context, s tenantd.Scope, fn func(tx *Tx) error) (err error) {
	prelude, err := prelude(s)
	if err != nil {
		return err
	}
	conn, release, err := db.acquire(ctx, s)
	if err != nil {
		return err
	}
	tx := &Tx{conn: conn, pending: append([]queued{beginTx}, prelude...), scope: s, db: db}
	defer func() {
		if p := recover(); p != nil {
			tx.abort()
			release()
			panic(p)
		}
		release()
	}()
	if err := fn(tx); err != nil {
		tx.abort()
		return classify(err)
	}
	if err := ctx.Err(); err != nil {
		tx.abort()
		return classify(err)
	}
	return classify(tx.commit(ctx))
}

// onCell runs sts on cell c in one transaction and one round trip, outside
// any tenant's context: Row-Level Security shows it no tenant's rows. It is
// the door for platform work (the catalog, the platform tables such as
// signing keys and security events, and the SECURITY DEFINER functions of
// platform.go, which answer only what they are named for). Statements'
// Events are refused: an audit event belongs to a tenant.
func (db *DB) onCell(ctx context.Context, c *cell, sts ...Statement) error {
	qs := []queued{beginTx}
	for _, st := range sts {
		if len(st.Events) > 0 {
			return errors.New("postgres: a platform statement has no tenant to audit")
		}
		qs = append(qs, st.queued()...)
	}
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return classify(err)
	}
	defer conn.Release()
	if err := db.pipeline(ctx, conn, append(qs, commitTx)); err != nil {
		rollback(conn)
		return classify(err)
	}
	return nil
}

// onPlatform is onCell on the home cell, which holds the platform tables.
func (db *DB) onPlatform(ctx context.Context, sts ...Statement) error {
	return db.onCell(ctx, db.dir.home(), sts...)
}

// prepareAll prepares sql (and the audit event and platform flag inserts,
// when events are queued) on conn, if not done yet. Preparing happens only
// before a transaction's first statement or between statements, never
// inside a pipeline.
func (db *DB) prepareAll(ctx context.Context, conn *pgx.Conn, sql string, events, guard bool) error {
	if sql != "" {
		if err := db.prepared.prepare(ctx, conn, sql); err != nil {
			return err
		}
	}
	if guard {
		if err := db.prepared.prepare(ctx, conn, guardSessionSQL); err != nil {
			return err
		}
	}
	if events {
		if err := db.prepared.prepare(ctx, conn, insertEventSQL); err != nil {
			return err
		}
		return db.prepared.prepare(ctx, conn, insertPlatformFlagSQL)
	}
	return nil
}

// acquire takes a connection of the tenant's cell within the scope's fair
// share of the pool; release returns both.
func (db *DB) acquire(ctx context.Context, s tenantd.Scope) (*pgxpool.Conn, func(), error) {
	leave, err := db.share.acquire(ctx, s.TenantID, s.Anonymous)
	if err != nil {
		return nil, nil, err
	}
	conn, err := db.dir.cellFor(s.TenantID).pool.Acquire(ctx)
	if err != nil {
		leave()
		return nil, nil, classify(err)
	}
	return conn, func() { conn.Release(); leave() }, nil
}
