-- The named, narrow functions that look across tenants. They are owned by
-- tenantd_platform (BYPASSRLS, NOLOGIN), have a fixed search_path, and are
-- executable only by the roles that need them. Nothing else in tenantd ever
-- sees more than one tenant; nothing turns RLS off.

-- +goose Up

-- Login and refresh: resolve a tenant slug (or id) to the tenant, before
-- any tenant context exists.
-- +goose StatementBegin
CREATE FUNCTION app.tenant_by_slug(p_slug text)
RETURNS TABLE (id uuid, slug text, name text, plan text, region text, status text, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.id, t.slug, t.name, t.plan, t.region, t.status, t.created_at
      FROM public.tenants t WHERE t.slug = p_slug
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION app.list_tenants()
RETURNS TABLE (id uuid, slug text, name text, plan text, region text, status text, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.id, t.slug, t.name, t.plan, t.region, t.status, t.created_at
      FROM public.tenants t ORDER BY t.slug
$$;
-- +goose StatementEnd

-- Provisioning: the tenant row, its usage counters and the head of its audit
-- chain. The owner user is then inserted by the caller in the same
-- transaction under the new tenant's context.
-- +goose StatementBegin
CREATE FUNCTION app.create_tenant(p_slug text, p_name text, p_plan text, p_region text)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id uuid;
BEGIN
    INSERT INTO public.tenants (slug, name, plan, region)
    VALUES (p_slug, p_name, p_plan, p_region) RETURNING id INTO new_id;
    INSERT INTO public.tenant_usage (tenant_id) VALUES (new_id);
    INSERT INTO public.audit_heads (tenant_id) VALUES (new_id);
    RETURN new_id;
END
$$;
-- +goose StatementEnd

-- Cross-tenant probe detection: does this id belong to a tenant other than
-- the caller's? Answers only yes or no, for the kinds of ids the API takes.
-- The caller answers 404 either way and records a flagged event when yes.
-- +goose StatementBegin
CREATE FUNCTION app.id_in_other_tenant(p_kind text, p_id uuid) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := app.current_tenant();
BEGIN
    IF me IS NULL THEN
        RETURN false;
    END IF;
    RETURN CASE p_kind
        WHEN 'user' THEN EXISTS (SELECT 1 FROM public.users WHERE id = p_id AND tenant_id <> me)
        WHEN 'workspace' THEN EXISTS (SELECT 1 FROM public.workspaces WHERE id = p_id AND tenant_id <> me)
        WHEN 'session' THEN EXISTS (SELECT 1 FROM public.sessions WHERE id = p_id AND tenant_id <> me)
        WHEN 'tenant' THEN EXISTS (SELECT 1 FROM public.tenants WHERE id = p_id AND id <> me)
        ELSE false
    END;
END
$$;
-- +goose StatementEnd

-- The platform security view: flagged events of every tenant, newest first,
-- keyset-paginated on (occurred_at, tenant_id, seq).
-- +goose StatementBegin
CREATE FUNCTION app.flagged_events(p_before timestamptz, p_limit integer)
RETURNS TABLE (tenant_id uuid, tenant_slug text, seq bigint, occurred_at timestamptz,
               actor_type text, actor_id text, action text, target_type text, target_id text,
               outcome text, flag_reason text, ip text, user_agent text, request_id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.tenant_id, t.slug, e.seq, e.occurred_at, e.actor_type, e.actor_id, e.action,
           e.target_type, e.target_id, e.outcome, e.flag_reason, host(e.ip), e.user_agent, e.request_id
      FROM public.audit_events e JOIN public.tenants t ON t.id = e.tenant_id
     WHERE e.flagged AND (p_before IS NULL OR e.occurred_at < p_before)
     ORDER BY e.occurred_at DESC
     LIMIT least(greatest(p_limit, 1), 500)
$$;
-- +goose StatementEnd

-- Security events that belong to no verified tenant.
-- +goose StatementBegin
CREATE FUNCTION app.unattributed_security_events(p_limit integer)
RETURNS TABLE (id bigint, occurred_at timestamptz, action text, reason text,
               claimed_tenant_id uuid, ip text, user_agent text, request_id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.id, s.occurred_at, s.action, s.reason, s.claimed_tenant_id, host(s.ip), s.user_agent, s.request_id
      FROM public.security_events s ORDER BY s.id DESC LIMIT least(greatest(p_limit, 1), 500)
$$;
-- +goose StatementEnd

GRANT SELECT ON workspaces, sessions TO tenantd_platform;
GRANT SELECT ON goose_db_version TO tenantd_app;
GRANT SELECT ON audit_events TO tenantd_platform;

ALTER FUNCTION app.tenant_by_slug(text) OWNER TO tenantd_platform;
ALTER FUNCTION app.list_tenants() OWNER TO tenantd_platform;
ALTER FUNCTION app.create_tenant(text, text, text, text) OWNER TO tenantd_platform;
ALTER FUNCTION app.id_in_other_tenant(text, uuid) OWNER TO tenantd_platform;
ALTER FUNCTION app.flagged_events(timestamptz, integer) OWNER TO tenantd_platform;
ALTER FUNCTION app.unattributed_security_events(integer) OWNER TO tenantd_platform;

REVOKE EXECUTE ON FUNCTION app.tenant_by_slug(text), app.list_tenants(),
    app.create_tenant(text, text, text, text), app.id_in_other_tenant(text, uuid),
    app.flagged_events(timestamptz, integer), app.unattributed_security_events(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.tenant_by_slug(text), app.list_tenants(),
    app.create_tenant(text, text, text, text), app.id_in_other_tenant(text, uuid),
    app.flagged_events(timestamptz, integer), app.unattributed_security_events(integer) TO tenantd_app;

-- +goose Down
DROP FUNCTION app.unattributed_security_events(integer), app.flagged_events(timestamptz, integer),
    app.id_in_other_tenant(text, uuid), app.create_tenant(text, text, text, text),
    app.list_tenants(), app.tenant_by_slug(text);
