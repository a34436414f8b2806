-- Roles and the transaction context every Row-Level Security policy reads.
--
-- tenantd_owner    owns every table and most functions; NOLOGIN; subject to
--                  RLS because every tenant table FORCEs it.
-- tenantd_app      what the server runs as (a LOGIN role that is a member of
--                  it): no table, no BYPASSRLS, only the privileges it needs.
-- tenantd_maint    retention purges and other maintenance.
-- tenantd_platform owns the few named SECURITY DEFINER functions that look
--                  across tenants (login by slug, provisioning, the platform
--                  security view, foreign-id probes). BYPASSRLS, NOLOGIN:
--                  nobody connects as it; it exists only as a function owner.

-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE
    r record;
BEGIN
    -- Roles are cluster-wide: two databases of one cluster migrating at once
    -- must not race to create them.
    PERFORM pg_advisory_xact_lock(7361626);
    FOR r IN SELECT * FROM (VALUES
        ('tenantd_owner', 'NOLOGIN NOBYPASSRLS'),
        ('tenantd_app', 'NOLOGIN NOBYPASSRLS'),
        ('tenantd_maint', 'NOLOGIN NOBYPASSRLS'),
        ('tenantd_platform', 'NOLOGIN BYPASSRLS')) AS v(name, options)
    LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r.name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I %s', r.name, r.options);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- created meanwhile by another database's migration
            END;
        END IF;
    END LOOP;
END
$$;
-- +goose StatementEnd

-- On Citus, SET LOCAL reaches the workers only with this setting (docs/decisions/0001-set-local-tenant-context.md);
-- on plain PostgreSQL it is an unknown custom setting and ignored.
ALTER ROLE tenantd_app SET citus.propagate_set_commands = 'local';

CREATE EXTENSION IF NOT EXISTS pgcrypto;

GRANT CREATE, USAGE ON SCHEMA public TO tenantd_owner;
CREATE SCHEMA app AUTHORIZATION tenantd_owner;
GRANT USAGE ON SCHEMA app TO tenantd_app, tenantd_maint, tenantd_platform;

SET LOCAL ROLE tenantd_owner;

-- The tenant of the current transaction, or NULL when none is set. After a
-- SET LOCAL ends, current_setting(name, true) returns '' rather than NULL:
-- nullif turns both into NULL, so "no context" can never raise a cast error
-- and never matches a row.
-- +goose StatementBegin
CREATE FUNCTION app.current_tenant() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION app.current_user_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;
-- +goose StatementEnd

-- The caller's tenant role: owner, admin, member, or system (the server).
-- +goose StatementBegin
CREATE FUNCTION app.tenant_role() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce(nullif(current_setting('app.role', true), ''), 'none') $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION app.is_tenant_admin() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT app.tenant_role() IN ('owner', 'admin', 'system') $$;
-- +goose StatementEnd

-- Workspaces a member reaches, may write in, and may manage. The door sets
-- them per transaction from the caller's memberships, so policies need no
-- subquery (Citus rejects subqueries in policies of distributed tables).
-- +goose StatementBegin
CREATE FUNCTION app.workspace_set(name text) RETURNS uuid[]
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce(nullif(current_setting(name, true), '')::uuid[], '{}'::uuid[]) $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION app.can_reach_workspace(ws uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT app.is_tenant_admin() OR ws = ANY (app.workspace_set('app.ws_read')) $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION app.can_write_workspace(ws uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT app.is_tenant_admin() OR ws = ANY (app.workspace_set('app.ws_write')) $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION app.can_manage_workspace(ws uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT app.is_tenant_admin() OR ws = ANY (app.workspace_set('app.ws_manage')) $$;
-- +goose StatementEnd

-- Request metadata for audit events, set by the door as base64 of a JSON
-- object so that no client-supplied byte can ever break out of the SET
-- literal.
-- +goose StatementBegin
CREATE FUNCTION app.request_meta() RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce(
        convert_from(decode(nullif(current_setting('app.request', true), ''), 'base64'), 'UTF8')::jsonb,
        '{}'::jsonb)
$$;
-- +goose StatementEnd

RESET ROLE;

-- +goose Down
DROP SCHEMA app CASCADE;
