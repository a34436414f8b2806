package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
)

// Idempotency keys: the first response to a (user, key) is kept for 24
// hours and replayed to a retry with the same request. The table and its
// rules are in migration 00011.

// idempotencyTakeover is how old a pending key must be before a retry may
// take it over: far beyond the request timeout, so its request has died.
const idempotencyTakeover = time.Minute

// The claim is one statement: a new key, an expired one or one whose
// request died is claimed (the time is a parameter, not now(), so the
// statement also runs on a distributed table); otherwise the existing key
// is returned.
const claimIdempotencySQL = `
WITH claim AS (
    INSERT INTO idempotency_keys AS k (tenant_id, user_id, key_hash, method, path, request_hash, created_at, expires_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $7::timestamptz + interval '24 hours')
    ON CONFLICT (tenant_id, user_id, key_hash) DO UPDATE
       SET method = EXCLUDED.method, path = EXCLUDED.path, request_hash = EXCLUDED.request_hash,
           status = 0, headers = '{}', body = '', created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
     WHERE k.expires_at < $7 OR (k.status = 0 AND k.created_at < $8)
    RETURNING true
)
SELECT true, 0, ''::bytea, '{}'::jsonb, ''::bytea FROM claim
UNION ALL
SELECT false, k.status, k.request_hash, k.headers, k.body
  FROM idempotency_keys k
 WHERE k.tenant_id = $1 AND k.user_id = $2 AND k.key_hash = $3 AND NOT EXISTS (SELECT 1 FROM claim)`

// Keys arrive hashed (SHA-256) and bodies sealed: the database never holds
// what a client's key would let one read.

// ClaimIdempotencyKey claims key for the caller's request (method, path and
// the hash of its body). It returns nil when the caller should run the
// request and then call FinishIdempotencyKey or ReleaseIdempotencyKey; the
// stored response when the key was used before for the same request;
// EINVALID when it was used for another request; ECONFLICT while the first
// request with the key is still running.
func (store *Idempotency) Claim(ctx context.Context, s tenantd.Scope, key [32]byte, method, path string, hash [32]byte) (*tenantd.IdempotentResponse, error) {
	now := time.Now()
	var (
		found, claimed bool
		status         int
		storedHash     []byte
		headers        map[string]string
		body           []byte
	)
	err := store.db.Run(ctx, s, Statement{
		SQL:  claimIdempotencySQL,
		Args: []any{s.TenantID, s.UserID, key[:], method, path, hash[:], now, now.Add(-idempotencyTakeover)},
		Scan: func(rows pgx.Rows) error {
			if !rows.Next() {
				return rows.Err()
			}
			found = true
			var raw []byte
			if err := rows.Scan(&claimed, &status, &storedHash, &raw, &body); err != nil {
				return err
			}
			return json.Unmarshal(raw, &headers)
		},
	})
	switch {
	case err != nil:
		return nil, err
	case claimed:
		return nil, nil
	case found && !bytes.Equal(storedHash, hash[:]):
		return nil, &tenantd.Error{Code: tenantd.EINVALID,
			Message: "This Idempotency-Key was used for a different request.",
			Fields:  []tenantd.FieldError{{Pointer: "/", Detail: "differs from the first request sent with this Idempotency-Key"}}}
	case found && status != 0:
		return &tenantd.IdempotentResponse{Status: status, Headers: headers, Body: body}, nil
	}
	// Pending, or claimed by a request that committed after this
	// statement's snapshot: either way, still running.
	return nil, &tenantd.Error{Code: tenantd.ECONFLICT, RetryAfter: time.Second,
		Message: "A request with this Idempotency-Key is still in progress; retry later."}
}

// FinishIdempotencyKey stores the response to a claimed key.
func (store *Idempotency) Finish(ctx context.Context, s tenantd.Scope, key [32]byte, resp tenantd.IdempotentResponse) error {
	headers, err := json.Marshal(resp.Headers)
	if err != nil {
		return err
	}
	return store.db.Run(ctx, s, Statement{
		SQL: `UPDATE idempotency_keys SET status = $4, headers = $5, body = $6
		       WHERE tenant_id = $1 AND user_id = $2 AND key_hash = $3 AND status = 0`,
		Args: []any{s.TenantID, s.UserID, key[:], resp.Status, headers, resp.Body},
	})
}

// ReleaseIdempotencyKey forgets a claimed key whose request failed, so a
// retry runs the request again.
func (store *Idempotency) Release(ctx context.Context, s tenantd.Scope, key [32]byte) error {
	return store.db.Run(ctx, s, Statement{
		SQL:  `DELETE FROM idempotency_keys WHERE tenant_id = $1 AND user_id = $2 AND key_hash = $3 AND status = 0`,
		Args: []any{s.TenantID, s.UserID, key[:]},
	})
}
