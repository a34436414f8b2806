-- A cheaper tenant transaction, same guarantees.
--
-- 1. One SET LOCAL carries the whole context. The door used to send one
--    SET LOCAL per setting (tenant, role, user, three workspace sets, the
--    request metadata): four to seven statements before the caller's own.
--    Now it sends one, app.context, and the policy functions read their
--    field of it. Still SET LOCAL, still its own statement in the pipeline
--    (docs/decisions/0001-set-local-tenant-context.md), still no subquery
--    in any policy (0002).
--
--      app.context = tenant ';' user ';' role ';' workspaces ';' request
--
--    tenant and user are UUIDs (user empty for the server), role one of
--    owner, admin, member, system; workspaces (members only) is
--    "<uuid>=<role>,<uuid>=<role>…" with the workspace roles manager,
--    editor, viewer; request is base64 of the audit metadata's JSON. No
--    field can hold a ';' (base64 has none), so split_part finds each.
--    A probe for a workspace is its full 36-character UUID text, which can
--    only match a whole entry: every 36-character window of the field that
--    is not an entry's UUID contains '=' or ','.
--
-- 2. The session guard is one index lookup. It was a plpgsql function
--    (app.guard_session) joining sessions, users and tenants and rebuilding
--    the user's memberships as JSON to compare them with what the server
--    cached, in every transaction. Now each session carries access_version,
--    which triggers bump whenever what the server caches about it could
--    change (the user's role or status, their memberships, the tenant's
--    status); the server reads it with the principal (in the same
--    statement, so the two agree) and the guard, a plain statement of the
--    door's, looks the session up by its primary key and raises only when
--    it is revoked, expired or at another version. The triggers are owned by
--    tenantd_platform (BYPASSRLS): a change made with no tenant context (a
--    platform function, an operator's SQL) still bumps every session it
--    concerns.

-- +goose Up
SET LOCAL ROLE tenantd_owner;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.current_tenant() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(split_part(current_setting('app.context', true), ';', 1), '')::uuid $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.current_user_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(split_part(current_setting('app.context', true), ';', 2), '')::uuid $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.tenant_role() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce(nullif(split_part(current_setting('app.context', true), ';', 3), ''), 'none') $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.is_tenant_admin() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce(split_part(current_setting('app.context', true), ';', 3), '') IN ('owner', 'admin', 'system') $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.can_reach_workspace(ws uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce(split_part(current_setting('app.context', true), ';', 3), '') IN ('owner', 'admin', 'system')
        OR strpos(split_part(current_setting('app.context', true), ';', 4), ws::text || '=') > 0
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.can_write_workspace(ws uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce(split_part(current_setting('app.context', true), ';', 3), '') IN ('owner', 'admin', 'system')
        OR strpos(split_part(current_setting('app.context', true), ';', 4), ws::text || '=editor') > 0
        OR strpos(split_part(current_setting('app.context', true), ';', 4), ws::text || '=manager') > 0
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.can_manage_workspace(ws uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce(split_part(current_setting('app.context', true), ';', 3), '') IN ('owner', 'admin', 'system')
        OR strpos(split_part(current_setting('app.context', true), ';', 4), ws::text || '=manager') > 0
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.request_meta() RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce(
        convert_from(decode(nullif(split_part(current_setting('app.context', true), ';', 5), ''), 'base64'), 'UTF8')::jsonb,
        '{}'::jsonb)
$$;
-- +goose StatementEnd

-- Read the per-setting workspace sets, which nothing sets any more.
DROP FUNCTION app.workspace_set(text);

ALTER TABLE sessions ADD COLUMN access_version bigint NOT NULL DEFAULT 0;

-- The session guard is a statement of the door's (guardSessionSQL in
-- postgres/door.go): one index lookup on the session, which calls this
-- only when the session is revoked, expired or at another access version.
-- +goose StatementBegin
CREATE FUNCTION app.raise_stale_scope() RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'stale session scope' USING ERRCODE = 'TDSTL';
END
$$;
-- +goose StatementEnd

DROP FUNCTION app.guard_session(uuid, uuid, uuid, text, jsonb);

RESET ROLE;

-- What the server caches of a session changes: bump the live sessions of
-- the user (or of the whole tenant, for its status).
-- +goose StatementBegin
CREATE FUNCTION app.bump_session_access() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    IF TG_TABLE_NAME = 'tenants' THEN
        UPDATE public.sessions SET access_version = access_version + 1
         WHERE tenant_id = r.id AND revoked_at IS NULL;
    ELSIF TG_TABLE_NAME = 'users' THEN
        UPDATE public.sessions SET access_version = access_version + 1
         WHERE tenant_id = r.tenant_id AND user_id = r.id AND revoked_at IS NULL;
    ELSE
        UPDATE public.sessions SET access_version = access_version + 1
         WHERE tenant_id = r.tenant_id AND user_id = r.user_id AND revoked_at IS NULL;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
ALTER FUNCTION app.bump_session_access() OWNER TO tenantd_platform;
GRANT UPDATE (access_version) ON sessions TO tenantd_platform;

CREATE TRIGGER bump_session_access AFTER UPDATE OF status ON tenants
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION app.bump_session_access();
CREATE TRIGGER bump_session_access AFTER UPDATE OF role, status ON users
    FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION app.bump_session_access();
CREATE TRIGGER bump_session_access AFTER INSERT OR DELETE ON workspace_members
    FOR EACH ROW EXECUTE FUNCTION app.bump_session_access();
CREATE TRIGGER bump_session_access_role AFTER UPDATE OF role ON workspace_members
    FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role)
    EXECUTE FUNCTION app.bump_session_access();

-- +goose Down
DROP TRIGGER bump_session_access_role ON workspace_members;
DROP TRIGGER bump_session_access ON workspace_members;
DROP TRIGGER bump_session_access ON users;
DROP TRIGGER bump_session_access ON tenants;
DROP FUNCTION app.bump_session_access();
DROP FUNCTION app.raise_stale_scope();
ALTER TABLE sessions DROP COLUMN access_version;

SET LOCAL ROLE tenantd_owner;

-- +goose StatementBegin
CREATE FUNCTION app.guard_session(p_tenant uuid, p_user uuid, p_session uuid, p_role text, p_workspaces jsonb)
RETURNS boolean
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1
          FROM public.sessions s
          JOIN public.users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
          JOIN public.tenants t ON t.id = s.tenant_id
         WHERE s.tenant_id = p_tenant AND s.id = p_session AND s.user_id = p_user
           AND s.revoked_at IS NULL AND s.expires_at > now()
           AND u.status = 'active' AND u.role = p_role AND t.status = 'active')
       OR coalesce((SELECT jsonb_object_agg(m.workspace_id, m.role)
                      FROM public.workspace_members m
                     WHERE m.tenant_id = p_tenant AND m.user_id = p_user),
                   '{}'::jsonb) <> p_workspaces
    THEN
        RAISE EXCEPTION 'stale session scope' USING ERRCODE = 'TDSTL';
    END IF;
    RETURN true;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION app.workspace_set(name text) RETURNS uuid[]
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce(nullif(current_setting(name, true), '')::uuid[], '{}'::uuid[]) $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.current_tenant() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.current_user_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.tenant_role() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce(nullif(current_setting('app.role', true), ''), 'none') $$;
-- +goose StatementEnd

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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.request_meta() RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce(
        convert_from(decode(nullif(current_setting('app.request', true), ''), 'base64'), 'UTF8')::jsonb,
        '{}'::jsonb)
$$;
-- +goose StatementEnd

RESET ROLE;
