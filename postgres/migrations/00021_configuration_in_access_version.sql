-- The tenant's configuration joins what the session guard checks.
--
-- The server caches a tenant's configuration (its plan's limits and
-- features overlaid with an operator's overrides: the rate limit, the
-- betas) beside each session's principal, read in the same statement, so
-- a request needs no round trip of its own to learn it. A change to it
-- now bumps the access version of every live session of the tenant, as a
-- change of the tenant's status already does (migration 00019): the next
-- transaction of any of those sessions, on any instance, is refused by the
-- guard, and the server reads the principal and the configuration again.
-- A change to a plan's catalogue entry bumps the sessions of every tenant
-- on that plan.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.bump_session_access() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    IF TG_TABLE_NAME = 'tenants' THEN
        UPDATE public.sessions SET access_version = access_version + 1
         WHERE tenant_id = r.id AND revoked_at IS NULL;
    ELSIF TG_TABLE_NAME = 'plans' THEN
        UPDATE public.sessions s SET access_version = s.access_version + 1
          FROM public.tenants t
         WHERE t.plan = r.name AND s.tenant_id = t.id AND s.revoked_at IS NULL;
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

CREATE TRIGGER bump_session_access_config AFTER UPDATE OF plan, limits, features ON tenants
    FOR EACH ROW WHEN (OLD.plan IS DISTINCT FROM NEW.plan OR OLD.limits IS DISTINCT FROM NEW.limits
                       OR OLD.features IS DISTINCT FROM NEW.features)
    EXECUTE FUNCTION app.bump_session_access();
CREATE TRIGGER bump_session_access AFTER UPDATE OF limits, features ON plans
    FOR EACH ROW WHEN (OLD.limits IS DISTINCT FROM NEW.limits OR OLD.features IS DISTINCT FROM NEW.features)
    EXECUTE FUNCTION app.bump_session_access();

-- +goose Down
DROP TRIGGER bump_session_access ON plans;
DROP TRIGGER bump_session_access_config ON tenants;
