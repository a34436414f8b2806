-- Idempotency keys (the Idempotency-Key header on POSTs that create): the
-- first response to a key is kept for 24 hours and replayed to a retry with
-- the same body. Keys are scoped to one user of one tenant, so no caller can
-- replay a response made for someone else.
--
-- The database holds neither the key nor a readable response: key_hash is
-- the SHA-256 of the key, and body is sealed (AES-GCM) under a key derived
-- from the idempotency key, which only the client knows. A response that
-- carries a secret (an invitation token) is thus never readable from a dump.
--
-- status 0 marks a request in progress; a retry meanwhile answers 409. A
-- pending key older than a minute (far beyond the request timeout) belongs
-- to a request that died and may be taken over.

-- +goose Up
SET LOCAL ROLE tenantd_owner;

CREATE TABLE idempotency_keys (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    user_id      uuid NOT NULL,
    key_hash     bytea NOT NULL CHECK (length(key_hash) = 32),
    method       text NOT NULL CHECK (length(method) <= 10),
    path         text NOT NULL CHECK (length(path) <= 2048),
    request_hash bytea NOT NULL CHECK (length(request_hash) = 32),
    status       integer NOT NULL DEFAULT 0,
    headers      jsonb NOT NULL DEFAULT '{}',
    body         bytea NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    PRIMARY KEY (tenant_id, user_id, key_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (tenant_id, expires_at);
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_keys
    USING (tenant_id = app.current_tenant())
    WITH CHECK (tenant_id = app.current_tenant());
-- A user's keys are their own, whatever their role.
CREATE POLICY own_keys ON idempotency_keys AS RESTRICTIVE
    USING (user_id = app.current_user_id())
    WITH CHECK (user_id = app.current_user_id());

RESET ROLE;

GRANT SELECT, INSERT, DELETE ON idempotency_keys TO tenantd_app;
GRANT UPDATE (method, path, request_hash, status, headers, body, created_at, expires_at) ON idempotency_keys TO tenantd_app;
GRANT SELECT, DELETE ON idempotency_keys TO tenantd_maint;

-- +goose Down
DROP TABLE idempotency_keys;
