-- Retention that keeps the audit chains verifiable.
--
-- Purging a chain's oldest events would break it: its first remaining event
-- links to a hash nobody can check any more. A purge therefore records the
-- last event it deletes (seq and hash) as the chain's origin, in the same
-- transaction; verification starts there. The server signs that origin
-- outside the database before the purge (a checkpoint of kind "origin"), so
-- an origin moved by anyone else (events deleted out of band) does not
-- verify. The purge runs as tenantd_maint, the role that may delete events;
-- the application role can only call it, through the door as the server
-- itself, and it never deletes an event younger than the tenant's audit
-- retention.

-- +goose Up
SET LOCAL ROLE tenantd_owner;

-- A tenant's chain origin once its oldest events were purged: the last
-- purged event. No row: the chain starts at seq 1.
CREATE TABLE audit_origins (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
    seq       bigint NOT NULL CHECK (seq > 0),
    hash      bytea NOT NULL CHECK (length(hash) = 32),
    purged_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE audit_origins ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_origins FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_origins
    USING (tenant_id = app.current_tenant())
    WITH CHECK (tenant_id = app.current_tenant());

-- The moment before which a tenant's events may be purged: its audit
-- retention (data_retention.audit_days, the operator's override, else the
-- plan's) back from now. NULL (nothing may go) when neither says.
-- +goose StatementBegin
CREATE FUNCTION app.audit_retention_cutoff(t uuid) RETURNS timestamptz
LANGUAGE sql STABLE
AS $$
    SELECT now() - make_interval(days => coalesce((tn.features -> 'data_retention' ->> 'audit_days')::integer,
                                                  (p.features -> 'data_retention' ->> 'audit_days')::integer))
      FROM public.tenants tn JOIN public.plans p ON p.name = tn.plan
     WHERE tn.id = t
$$;
-- +goose StatementEnd

-- The last event a purge bounded by p_before_seq and p_before_time (NULL:
-- no bound) may delete: the chain is purged from its origin as one run of
-- events, each before both bounds and older than the retention. No row:
-- nothing to purge.
-- +goose StatementBegin
CREATE FUNCTION app.audit_purge_point(p_tenant uuid, p_before_seq bigint, p_before_time timestamptz)
RETURNS TABLE (seq bigint, hash bytea)
LANGUAGE sql STABLE
AS $$
    WITH retention AS (
        SELECT app.audit_retention_cutoff(p_tenant) AS cutoff
    ), bound AS (
        SELECT r.cutoff IS NOT NULL AS allowed, least(p_before_time, r.cutoff) AS cutoff,
               coalesce((SELECT o.seq FROM public.audit_origins o WHERE o.tenant_id = p_tenant), 0) AS origin
          FROM retention r
    ), first_kept AS (
        SELECT min(e.seq) AS seq
          FROM public.audit_events e, bound b
         WHERE e.tenant_id = p_tenant AND e.seq > b.origin
           AND (e.occurred_at >= b.cutoff OR e.seq >= p_before_seq)
    )
    SELECT e.seq, e.hash
      FROM public.audit_events e, bound b, first_kept k
     WHERE e.tenant_id = p_tenant AND e.seq > b.origin AND b.allowed
       AND (k.seq IS NULL OR e.seq < k.seq)
     ORDER BY e.seq DESC
     LIMIT 1
$$;
-- +goose StatementEnd

RESET ROLE;

-- Deletes a tenant's events from its origin through p_seq, whose hash must
-- be p_hash (what the server signed), makes that event the new origin and
-- records an audit.purged event, in one transaction. Refuses an event
-- younger than the retention and any caller but the server in the tenant's
-- own context. Returns the number of events deleted (0 when another purge
-- already went that far).
-- +goose StatementBegin
CREATE FUNCTION app.purge_audit_through(p_tenant uuid, p_seq bigint, p_hash bytea) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    origin bigint;
    target record;
    n      bigint;
BEGIN
    IF p_tenant IS DISTINCT FROM app.current_tenant() OR app.tenant_role() <> 'system' THEN
        RAISE EXCEPTION 'only the server purges audit events, in the tenant''s own context' USING ERRCODE = '42501';
    END IF;
    -- One purge of a tenant at a time; writers are not held up.
    PERFORM pg_advisory_xact_lock(7361627, hashtext(p_tenant::text));
    origin := coalesce((SELECT o.seq FROM public.audit_origins o WHERE o.tenant_id = p_tenant), 0);
    IF p_seq <= origin THEN
        RETURN 0;
    END IF;
    SELECT e.hash, e.occurred_at INTO target
      FROM public.audit_events e WHERE e.tenant_id = p_tenant AND e.seq = p_seq;
    IF NOT FOUND OR target.hash IS DISTINCT FROM p_hash THEN
        RAISE EXCEPTION 'audit event % of tenant % is missing or not the one to purge through (its hash differs)', p_seq, p_tenant;
    END IF;
    IF NOT coalesce(target.occurred_at < app.audit_retention_cutoff(p_tenant), false) THEN
        RAISE EXCEPTION 'audit event % of tenant % is younger than the tenant''s audit retention', p_seq, p_tenant;
    END IF;
    DELETE FROM public.audit_events e WHERE e.tenant_id = p_tenant AND e.seq > origin AND e.seq <= p_seq;
    GET DIAGNOSTICS n = ROW_COUNT;
    INSERT INTO public.audit_origins AS o (tenant_id, seq, hash) VALUES (p_tenant, p_seq, p_hash)
        ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, purged_at = now();
    INSERT INTO public.audit_events (tenant_id, actor_type, action, target_type, target_id, outcome, changes)
    VALUES (p_tenant, 'system', 'audit.purged', 'audit_log', p_tenant::text, 'success',
            jsonb_build_object('events', n, 'from_seq', origin + 1, 'through_seq', p_seq,
                               'origin_hash', encode(p_hash, 'hex')));
    RETURN n;
END
$$;
-- +goose StatementEnd

GRANT SELECT ON audit_origins TO tenantd_app;
GRANT SELECT, INSERT, UPDATE ON audit_origins TO tenantd_maint;
GRANT SELECT ON plans TO tenantd_maint;
GRANT INSERT ON audit_events TO tenantd_maint;
ALTER FUNCTION app.purge_audit_through(uuid, bigint, bytea) OWNER TO tenantd_maint;
REVOKE EXECUTE ON FUNCTION app.purge_audit_through(uuid, bigint, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.purge_audit_through(uuid, bigint, bytea) TO tenantd_app, tenantd_maint;

-- +goose Down
DROP FUNCTION app.purge_audit_through(uuid, bigint, bytea);
DROP FUNCTION app.audit_purge_point(uuid, bigint, timestamptz);
DROP FUNCTION app.audit_retention_cutoff(uuid);
REVOKE INSERT ON audit_events FROM tenantd_maint;
REVOKE SELECT ON plans FROM tenantd_maint;
DROP TABLE audit_origins;
