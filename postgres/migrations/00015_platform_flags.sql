-- Flags only the platform reads.
--
-- An id of another tenant answers 404 exactly like an unknown id, and the
-- caller's own audit log must not tell them apart either: its admins read
-- it (GET /v1/audit-events?target_id=…), so a flagged event there would say
-- "this id exists in another tenant". The server records the same tenant
-- event for both (access.not_found, unflagged), and keeps the flag of the
-- foreign one here, keyed by that event, where only the platform's security
-- view reads it: the application role may insert, never select.

-- +goose Up
SET LOCAL ROLE tenantd_owner;

CREATE TABLE platform_flags (
    tenant_id   uuid NOT NULL,
    seq         bigint NOT NULL,
    flag_reason text NOT NULL CHECK (flag_reason ~ '^[a-z_]+$'),
    PRIMARY KEY (tenant_id, seq),
    -- A purge of the oldest events (app.purge_audit_through) takes their
    -- flags with them.
    FOREIGN KEY (tenant_id, seq) REFERENCES audit_events (tenant_id, seq) ON DELETE CASCADE
);
ALTER TABLE platform_flags ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform_flags FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON platform_flags
    USING (tenant_id = app.current_tenant())
    WITH CHECK (tenant_id = app.current_tenant());

RESET ROLE;

GRANT INSERT ON platform_flags TO tenantd_app;
GRANT SELECT ON platform_flags TO tenantd_platform;
GRANT SELECT, DELETE ON platform_flags TO tenantd_maint;

-- Flagged events of every tenant: those flagged in the tenant's own log and
-- those flagged for the platform only, shown flagged with the platform's
-- reason. Same signature, paging and answer as 00012's.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.flagged_events_page(p_at timestamptz, p_tenant uuid, p_seq bigint, p_limit integer)
RETURNS TABLE (tenant_id uuid, tenant_slug text, seq bigint, event_id uuid, occurred_at timestamptz,
               actor_type text, actor_id text, action text, target_type text, target_id text,
               outcome text, flag_reason text, ip text, user_agent text, request_id text, changes jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.tenant_id, t.slug, e.seq, e.id, e.occurred_at, e.actor_type, e.actor_id, e.action,
           e.target_type, e.target_id, e.outcome, e.reason, abbrev(e.ip), e.user_agent,
           e.request_id, e.changes
      FROM (SELECT a.*, a.flag_reason AS reason FROM public.audit_events a WHERE a.flagged
            UNION ALL
            SELECT a.*, f.flag_reason FROM public.platform_flags f
              JOIN public.audit_events a ON a.tenant_id = f.tenant_id AND a.seq = f.seq
             WHERE NOT a.flagged) e
      JOIN public.tenants t ON t.id = e.tenant_id
     WHERE p_at IS NULL OR (e.occurred_at, e.tenant_id, e.seq) < (p_at, p_tenant, p_seq)
     ORDER BY e.occurred_at DESC, e.tenant_id DESC, e.seq DESC
     LIMIT least(greatest(p_limit, 1), 500)
$$;
-- +goose StatementEnd

-- +goose Down
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
DROP TABLE platform_flags;
