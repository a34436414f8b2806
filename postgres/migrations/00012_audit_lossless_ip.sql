-- An event's client address, hashed and read back whole.
--
-- app.audit_canonical encoded the address with host(), which drops a
-- netmask: a stored 10.1.2.3/8 was hashed, and read, as 10.1.2.3, so
-- changing only the mask went unnoticed. The address now enters the
-- encoding as an inet (PostgreSQL's inet text: the address, then "/bits"
-- unless the mask covers the whole address). Every event the server has
-- written carries a bare address (a full mask), whose text is the same
-- either way, so every existing hash still verifies. The encoding is
-- defined in docs/audit-chain.md; `tenantd audit verify` computes it in Go.

-- +goose Up
SET LOCAL ROLE tenantd_owner;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.audit_canonical(e audit_events) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN jsonb_build_array(
        e.tenant_id, e.seq, e.id, (extract(epoch FROM e.occurred_at) * 1000000)::bigint,
        e.actor_type, e.actor_id, e.action, e.target_type, e.target_id,
        e.outcome, e.flagged, e.flag_reason, e.ip, e.user_agent,
        e.request_id, e.changes)::text;
END
$$;
-- +goose StatementEnd

RESET ROLE;

-- The platform view shows the address as the tenant's own log does.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.flagged_events_page(p_at timestamptz, p_tenant uuid, p_seq bigint, p_limit integer)
RETURNS TABLE (tenant_id uuid, tenant_slug text, seq bigint, event_id uuid, occurred_at timestamptz,
               actor_type text, actor_id text, action text, target_type text, target_id text,
               outcome text, flag_reason text, ip text, user_agent text, request_id text, changes jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.tenant_id, t.slug, e.seq, e.id, e.occurred_at, e.actor_type, e.actor_id, e.action,
           e.target_type, e.target_id, e.outcome, e.flag_reason, abbrev(e.ip), e.user_agent,
           e.request_id, e.changes
      FROM public.audit_events e JOIN public.tenants t ON t.id = e.tenant_id
     WHERE e.flagged
       AND (p_at IS NULL OR (e.occurred_at, e.tenant_id, e.seq) < (p_at, p_tenant, p_seq))
     ORDER BY e.occurred_at DESC, e.tenant_id DESC, e.seq DESC
     LIMIT least(greatest(p_limit, 1), 500)
$$;
-- +goose StatementEnd

-- +goose Down
SET LOCAL ROLE tenantd_owner;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.audit_canonical(e audit_events) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN jsonb_build_array(
        e.tenant_id, e.seq, e.id, (extract(epoch FROM e.occurred_at) * 1000000)::bigint,
        e.actor_type, e.actor_id, e.action, e.target_type, e.target_id,
        e.outcome, e.flagged, e.flag_reason, host(e.ip), e.user_agent,
        e.request_id, e.changes)::text;
END
$$;
-- +goose StatementEnd

RESET ROLE;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.flagged_events_page(p_at timestamptz, p_tenant uuid, p_seq bigint, p_limit integer)
RETURNS TABLE (tenant_id uuid, tenant_slug text, seq bigint, event_id uuid, occurred_at timestamptz,
               actor_type text, actor_id text, action text, target_type text, target_id text,
               outcome text, flag_reason text, ip text, user_agent text, request_id text, changes jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.tenant_id, t.slug, e.seq, e.id, e.occurred_at, e.actor_type, e.actor_id, e.action,
           e.target_type, e.target_id, e.outcome, e.flag_reason, host(e.ip), e.user_agent,
           e.request_id, e.changes
      FROM public.audit_events e JOIN public.tenants t ON t.id = e.tenant_id
     WHERE e.flagged
       AND (p_at IS NULL OR (e.occurred_at, e.tenant_id, e.seq) < (p_at, p_tenant, p_seq))
     ORDER BY e.occurred_at DESC, e.tenant_id DESC, e.seq DESC
     LIMIT least(greatest(p_limit, 1), 500)
$$;
-- +goose StatementEnd
