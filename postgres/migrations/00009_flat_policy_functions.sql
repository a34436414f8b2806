-- Cheaper planning of every tenant query, same semantics.
--
-- The server plans each statement anew (no server-side prepared statements,
-- for PgBouncer), and PostgreSQL parses the body of every SQL function it
-- inlines at each planning. The workspace policies went through four nested
-- functions; now each policy function reads the settings directly, so a
-- query inlines one function per policy. Still no subquery in any policy.

-- +goose Up
SET LOCAL ROLE tenantd_owner;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.is_tenant_admin() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce(current_setting('app.role', true), '') IN ('owner', 'admin', 'system') $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.can_reach_workspace(ws uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce(current_setting('app.role', true), '') IN ('owner', 'admin', 'system')
        OR ws = ANY (coalesce(nullif(current_setting('app.ws_read', true), '')::uuid[], '{}'::uuid[]))
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.can_write_workspace(ws uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce(current_setting('app.role', true), '') IN ('owner', 'admin', 'system')
        OR ws = ANY (coalesce(nullif(current_setting('app.ws_write', true), '')::uuid[], '{}'::uuid[]))
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.can_manage_workspace(ws uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce(current_setting('app.role', true), '') IN ('owner', 'admin', 'system')
        OR ws = ANY (coalesce(nullif(current_setting('app.ws_manage', true), '')::uuid[], '{}'::uuid[]))
$$;
-- +goose StatementEnd

RESET ROLE;

-- +goose Down
SELECT 1;
