-- Operators manage tenants: list them, change a tenant's plan, its limits
-- and flags (the overrides of its plan's), suspend and resume it.
--
-- Listing looks across tenants: one named function owned by
-- tenantd_platform, like app.list_tenants. Every change is made in the
-- tenant's own context, through the door, as the server acting for an
-- operator (role system, actor type operator): the functions below refuse
-- any other caller and any other tenant, so a tenant's own request can
-- never change its plan, limits, flags or status, whatever a handler
-- forgot. They are owned by tenantd_owner, which Row-Level Security binds
-- (the tables force it), so even they see the context's tenant only. The
-- row trigger on tenants records each change as a tenant.updated event
-- with the operator as actor, in the same transaction.

-- +goose Up

-- One page of tenants for operators, by slug, after p_after (NULL: the
-- first page); NULL filters do not filter.
-- +goose StatementBegin
CREATE FUNCTION app.tenants_page(p_plan text, p_status text, p_region text, p_after text, p_limit integer)
RETURNS TABLE (id uuid, slug text, name text, plan text, region text, status text, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.id, t.slug, t.name, t.plan, t.region, t.status, t.created_at
      FROM public.tenants t
     WHERE (p_plan IS NULL OR t.plan = p_plan)
       AND (p_status IS NULL OR t.status = p_status)
       AND (p_region IS NULL OR t.region = p_region)
       AND (p_after IS NULL OR t.slug > p_after)
     ORDER BY t.slug
     LIMIT least(greatest(p_limit, 1), 501)
$$;
-- +goose StatementEnd

ALTER FUNCTION app.tenants_page(text, text, text, text, integer) OWNER TO tenantd_platform;
REVOKE EXECUTE ON FUNCTION app.tenants_page(text, text, text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.tenants_page(text, text, text, text, integer) TO tenantd_app;

SET LOCAL ROLE tenantd_owner;

-- Raises unless the transaction is the server acting for an operator in
-- p_tenant's own context.
-- +goose StatementBegin
CREATE FUNCTION app.require_operator(p_tenant uuid) RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF p_tenant IS DISTINCT FROM app.current_tenant() OR app.tenant_role() <> 'system'
       OR app.request_meta() ->> 'actor_type' IS DISTINCT FROM 'operator' THEN
        RAISE EXCEPTION 'only an operator changes a tenant''s plan, limits, flags or status, in the tenant''s own context'
            USING ERRCODE = '42501';
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION app.set_tenant_plan(p_tenant uuid, p_plan text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM app.require_operator(p_tenant);
    UPDATE public.tenants SET plan = p_plan, updated_at = now()
     WHERE id = p_tenant AND plan IS DISTINCT FROM p_plan;
END
$$;
-- +goose StatementEnd

-- Merges p_patch into the tenant's limit overrides: a name set to null
-- loses its override (the plan's limit applies again).
-- +goose StatementBegin
CREATE FUNCTION app.patch_tenant_limits(p_tenant uuid, p_patch jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM app.require_operator(p_tenant);
    UPDATE public.tenants SET limits = jsonb_strip_nulls(limits || p_patch), updated_at = now()
     WHERE id = p_tenant AND limits IS DISTINCT FROM jsonb_strip_nulls(limits || p_patch);
END
$$;
-- +goose StatementEnd

-- Sets a flag's override; a NULL value removes it (the plan's value applies
-- again).
-- +goose StatementBegin
CREATE FUNCTION app.set_tenant_feature(p_tenant uuid, p_name text, p_value jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    next jsonb;
BEGIN
    PERFORM app.require_operator(p_tenant);
    SELECT CASE WHEN p_value IS NULL THEN t.features - p_name
                ELSE t.features || jsonb_build_object(p_name, p_value) END
      INTO next FROM public.tenants t WHERE t.id = p_tenant;
    UPDATE public.tenants SET features = next, updated_at = now()
     WHERE id = p_tenant AND features IS DISTINCT FROM next;
END
$$;
-- +goose StatementEnd

-- Suspends or resumes a tenant. Suspending ends every session of the
-- tenant in the same transaction (the session guard of every transaction
-- already refuses a suspended tenant's sessions; revoked, they stay ended
-- after a resume). Returns the number of sessions it ended.
-- +goose StatementBegin
CREATE FUNCTION app.set_tenant_status(p_tenant uuid, p_status text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ended integer := 0;
BEGIN
    PERFORM app.require_operator(p_tenant);
    UPDATE public.tenants SET status = p_status, updated_at = now()
     WHERE id = p_tenant AND status IS DISTINCT FROM p_status;
    IF p_status = 'suspended' THEN
        UPDATE public.sessions SET revoked_at = now(), revoked_reason = 'tenant suspended'
         WHERE tenant_id = p_tenant AND revoked_at IS NULL;
        GET DIAGNOSTICS ended = ROW_COUNT;
    END IF;
    RETURN ended;
END
$$;
-- +goose StatementEnd

RESET ROLE;

REVOKE EXECUTE ON FUNCTION app.require_operator(uuid), app.set_tenant_plan(uuid, text),
    app.patch_tenant_limits(uuid, jsonb), app.set_tenant_feature(uuid, text, jsonb),
    app.set_tenant_status(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.set_tenant_plan(uuid, text),
    app.patch_tenant_limits(uuid, jsonb), app.set_tenant_feature(uuid, text, jsonb),
    app.set_tenant_status(uuid, text) TO tenantd_app;

-- +goose Down
DROP FUNCTION app.set_tenant_status(uuid, text), app.set_tenant_feature(uuid, text, jsonb),
    app.patch_tenant_limits(uuid, jsonb), app.set_tenant_plan(uuid, text),
    app.require_operator(uuid), app.tenants_page(text, text, text, text, integer);
