-- Reading the audit log: only owners, admins and the server itself read a
-- tenant's events, whatever a handler forgot to check; and the platform
-- security view, paged exactly. 00005's app.flagged_events pages on
-- occurred_at alone, so flagged events of two tenants that share a
-- timestamp could be skipped between pages; the functions below page on the
-- whole key (occurred_at, tenant_id, seq) and on security_events.id. Like
-- every cross-tenant function they are owned by tenantd_platform, have a
-- fixed search_path, and answer only what the view shows.

-- +goose Up
SET LOCAL ROLE tenantd_owner;

-- Members may still append events (every request of theirs is audited);
-- they cannot read them.
CREATE POLICY admin_read ON audit_events AS RESTRICTIVE FOR SELECT
    USING (app.is_tenant_admin());

RESET ROLE;

-- Flagged events of every tenant, newest first, after the key
-- (p_at, p_tenant, p_seq) of the previous page's last row (NULLs: first page).
-- +goose StatementBegin
CREATE FUNCTION app.flagged_events_page(p_at timestamptz, p_tenant uuid, p_seq bigint, p_limit integer)
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

-- Security events that belong to no verified tenant, newest first, before
-- the id p_before_id (NULL: first page).
-- +goose StatementBegin
CREATE FUNCTION app.security_events_page(p_before_id bigint, p_limit integer)
RETURNS TABLE (id bigint, occurred_at timestamptz, action text, reason text,
               claimed_tenant_id uuid, ip text, user_agent text, request_id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.id, s.occurred_at, s.action, s.reason, s.claimed_tenant_id, host(s.ip), s.user_agent, s.request_id
      FROM public.security_events s
     WHERE p_before_id IS NULL OR s.id < p_before_id
     ORDER BY s.id DESC
     LIMIT least(greatest(p_limit, 1), 500)
$$;
-- +goose StatementEnd

ALTER FUNCTION app.flagged_events_page(timestamptz, uuid, bigint, integer) OWNER TO tenantd_platform;
ALTER FUNCTION app.security_events_page(bigint, integer) OWNER TO tenantd_platform;

REVOKE EXECUTE ON FUNCTION app.flagged_events_page(timestamptz, uuid, bigint, integer),
    app.security_events_page(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.flagged_events_page(timestamptz, uuid, bigint, integer),
    app.security_events_page(bigint, integer) TO tenantd_app;

-- +goose Down
DROP POLICY admin_read ON audit_events;
DROP FUNCTION app.security_events_page(bigint, integer),
    app.flagged_events_page(timestamptz, uuid, bigint, integer);
