-- Cheaper audited writes, same events and same hashes.
--
-- app.audit_canonical as a LANGUAGE sql function was never inlined (its
-- body calls STABLE functions under an IMMUTABLE label) and was planned
-- anew in every transaction; as plpgsql its plan is cached per session. The
-- text it returns, and so every hash, is unchanged.
--
-- audit_events.tenant_id no longer has its own foreign key: the chain
-- trigger already requires the tenant's audit_heads row, which references
-- tenants, so the check per event was redundant work.

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
        e.outcome, e.flagged, e.flag_reason, host(e.ip), e.user_agent,
        e.request_id, e.changes)::text;
END
$$;
-- +goose StatementEnd

ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_tenant_id_fkey;

-- The same events as 00002's app.audit_row, with the changed fields
-- computed by one query instead of a loop of jsonb concatenations.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.audit_row() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    target_type text := TG_ARGV[0];
    id_column   text := TG_ARGV[1];
    secrets     text[] := coalesce(TG_ARGV[2:], '{}');
    old_row     jsonb := '{}';
    new_row     jsonb := '{}';
    changes     jsonb;
    verb        text;
    meta        jsonb := app.request_meta();
BEGIN
    IF TG_OP <> 'INSERT' THEN old_row := to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN new_row := to_jsonb(NEW); END IF;

    SELECT coalesce(jsonb_object_agg(k,
               CASE WHEN k = ANY (secrets) THEN '{"changed": true}'::jsonb
                    ELSE jsonb_strip_nulls(jsonb_build_object('old', old_row -> k, 'new', new_row -> k)) END),
               '{}')
      INTO changes
      FROM jsonb_object_keys(old_row || new_row) AS k
     WHERE k NOT IN ('tenant_id', 'created_at', 'updated_at')
       AND (old_row -> k) IS DISTINCT FROM (new_row -> k);

    verb := CASE
        WHEN TG_OP = 'INSERT' THEN 'created'
        WHEN TG_OP = 'DELETE' THEN 'deleted'
        WHEN old_row ->> 'deleted_at' IS NULL AND new_row ->> 'deleted_at' IS NOT NULL THEN 'deleted'
        WHEN old_row ->> 'status' IS DISTINCT FROM new_row ->> 'status'
             AND new_row ->> 'status' = 'deactivated' THEN 'deactivated'
        ELSE 'updated'
    END;

    INSERT INTO public.audit_events
        (tenant_id, actor_type, actor_id, action, target_type, target_id, outcome,
         ip, user_agent, request_id, changes)
    VALUES
        (coalesce(new_row ->> 'tenant_id', old_row ->> 'tenant_id', new_row ->> 'id')::uuid,
         coalesce(meta ->> 'actor_type', 'system'), coalesce(meta ->> 'actor_id', ''),
         target_type || '.' || verb, target_type, coalesce(new_row ->> id_column, old_row ->> id_column), 'success',
         nullif(meta ->> 'ip', '')::inet, coalesce(meta ->> 'user_agent', ''),
         coalesce(meta ->> 'request_id', ''), changes);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

RESET ROLE;

-- +goose Down
SET LOCAL ROLE tenantd_owner;
ALTER TABLE audit_events ADD FOREIGN KEY (tenant_id) REFERENCES tenants (id);
RESET ROLE;
