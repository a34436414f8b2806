-- The tenant directory, plans, and the audit log with its per-tenant hash
-- chain. Tenants are rows: adding one never needs code or schema.

-- +goose Up
SET LOCAL ROLE tenantd_owner;

CREATE TABLE plans (
    name     text PRIMARY KEY,
    limits   jsonb NOT NULL,
    features jsonb NOT NULL
);

INSERT INTO plans (name, limits, features) VALUES
('free', '{"max_workspaces": 3, "max_users": 5, "email_sends_per_month": 1000}',
         '{"beta_features": [], "custom_branding": false, "api_rate_limit": {"rate": 600, "period_seconds": 60, "burst": 60}, "data_retention": {"audit_days": 90, "sends_days": 90, "deleted_days": 30}}'),
('pro', '{"max_workspaces": 10, "max_users": 25, "email_sends_per_month": 50000}',
         '{"beta_features": [], "custom_branding": false, "api_rate_limit": {"rate": 3000, "period_seconds": 60, "burst": 300}, "data_retention": {"audit_days": 365, "sends_days": 365, "deleted_days": 30}}'),
('enterprise', '{"max_workspaces": 100, "max_users": 500, "email_sends_per_month": 1000000}',
         '{"beta_features": [], "custom_branding": true, "api_rate_limit": {"rate": 12000, "period_seconds": 60, "burst": 1200}, "data_retention": {"audit_days": 2555, "sends_days": 730, "deleted_days": 90}}');

-- tenants is the control table. It has no tenant_id column (its id is the
-- tenant), so on Citus it is a reference table; the application still only
-- ever sees its own row.
CREATE TABLE tenants (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug       text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    plan       text NOT NULL REFERENCES plans (name),
    region     text NOT NULL DEFAULT 'us' CHECK (region ~ '^[a-z]{2,8}$'),
    cell       text NOT NULL DEFAULT 'shared',
    status     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    settings   jsonb NOT NULL DEFAULT '{}',
    limits     jsonb NOT NULL DEFAULT '{}',  -- operator overrides of the plan's limits
    features   jsonb NOT NULL DEFAULT '{}',  -- operator overrides of the plan's features
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (id = app.current_tenant())
    WITH CHECK (id = app.current_tenant());

-- The audit log. seq is a gapless per-tenant sequence; hash chains each
-- event to the previous one of the same tenant (see app.audit_chain).
CREATE TABLE audit_events (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    seq         bigint NOT NULL,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor_type  text NOT NULL CHECK (actor_type IN ('user', 'operator', 'system', 'anonymous')),
    actor_id    text NOT NULL DEFAULT '',
    action      text NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
    target_type text NOT NULL DEFAULT '',
    target_id   text NOT NULL DEFAULT '',
    outcome     text NOT NULL CHECK (outcome IN ('success', 'denied', 'failed')),
    flagged     boolean NOT NULL DEFAULT false,
    flag_reason text NOT NULL DEFAULT '',
    ip          inet,
    user_agent  text NOT NULL DEFAULT '',
    request_id  text NOT NULL DEFAULT '',
    changes     jsonb NOT NULL DEFAULT '{}',
    prev_hash   bytea NOT NULL DEFAULT '\x',
    hash        bytea NOT NULL DEFAULT '\x',
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_events_action ON audit_events (tenant_id, action, seq);
CREATE INDEX audit_events_flagged ON audit_events (tenant_id, seq) WHERE flagged;
CREATE INDEX audit_events_target ON audit_events (tenant_id, target_type, target_id, seq);
CREATE INDEX audit_events_actor ON audit_events (tenant_id, actor_id, seq);
ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_events
    USING (tenant_id = app.current_tenant())
    WITH CHECK (tenant_id = app.current_tenant());

-- One row per tenant: the head of its chain. Locking it orders the events
-- of one tenant and leaves every other tenant's writers alone.
CREATE TABLE audit_heads (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
    seq       bigint NOT NULL DEFAULT 0,
    hash      bytea NOT NULL DEFAULT '\x'
);
ALTER TABLE audit_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_heads
    USING (tenant_id = app.current_tenant())
    WITH CHECK (tenant_id = app.current_tenant());

-- The canonical encoding that is hashed: a JSON array (jsonb renders
-- deterministically), time as integer microseconds so no TimeZone or
-- DateStyle setting can change it. `tenantd audit verify` hashes this same
-- text in Go.
-- +goose StatementBegin
CREATE FUNCTION app.audit_canonical(e audit_events) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_array(
        e.tenant_id, e.seq, e.id, (extract(epoch FROM e.occurred_at) * 1000000)::bigint,
        e.actor_type, e.actor_id, e.action, e.target_type, e.target_id,
        e.outcome, e.flagged, e.flag_reason, host(e.ip), e.user_agent,
        e.request_id, e.changes)::text
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION app.audit_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    head record;
BEGIN
    SELECT h.seq, h.hash INTO head FROM public.audit_heads h
     WHERE h.tenant_id = NEW.tenant_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no audit chain for tenant %', NEW.tenant_id;
    END IF;
    NEW.seq := head.seq + 1;
    NEW.occurred_at := clock_timestamp();
    NEW.prev_hash := head.hash;
    NEW.hash := sha256(head.hash || convert_to(app.audit_canonical(NEW), 'UTF8'));
    UPDATE public.audit_heads SET seq = NEW.seq, hash = NEW.hash WHERE tenant_id = NEW.tenant_id;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_chain BEFORE INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION app.audit_chain();

-- Records one audit event per changed row of an audited table, in the same
-- transaction as the change, so an acknowledged write always has its event
-- and a rolled-back one never does. TG_ARGV: [0] target type, [1] column
-- holding the target id, [2..] secret columns recorded only as "changed".
-- +goose StatementBegin
CREATE FUNCTION app.audit_row() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    target_type text := TG_ARGV[0];
    id_column   text := TG_ARGV[1];
    secrets     text[] := coalesce(TG_ARGV[2:], '{}');
    ignored     text[] := ARRAY['tenant_id', 'created_at', 'updated_at'];
    old_row     jsonb := '{}';
    new_row     jsonb := '{}';
    changes     jsonb := '{}';
    verb        text;
    k           text;
    meta        jsonb := app.request_meta();
    tenant      uuid;
    target      text;
BEGIN
    IF TG_OP <> 'INSERT' THEN old_row := to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN new_row := to_jsonb(NEW); END IF;
    tenant := coalesce(new_row ->> 'tenant_id', old_row ->> 'tenant_id', new_row ->> 'id')::uuid;
    target := coalesce(new_row ->> id_column, old_row ->> id_column);

    FOR k IN SELECT jsonb_object_keys(old_row || new_row) LOOP
        CONTINUE WHEN k = ANY (ignored) OR (old_row -> k) IS NOT DISTINCT FROM (new_row -> k);
        IF k = ANY (secrets) THEN
            changes := changes || jsonb_build_object(k, jsonb_build_object('changed', true));
        ELSE
            changes := changes || jsonb_build_object(k, jsonb_strip_nulls(
                jsonb_build_object('old', old_row -> k, 'new', new_row -> k)));
        END IF;
    END LOOP;

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
         ip, user_agent, request_id, changes, prev_hash, hash)
    VALUES
        (tenant, coalesce(meta ->> 'actor_type', 'system'), coalesce(meta ->> 'actor_id', ''),
         target_type || '.' || verb, target_type, target, 'success',
         nullif(meta ->> 'ip', '')::inet, coalesce(meta ->> 'user_agent', ''),
         coalesce(meta ->> 'request_id', ''), changes, '\x', '\x');
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_row AFTER UPDATE ON tenants
    FOR EACH ROW EXECUTE FUNCTION app.audit_row('tenant', 'id');

-- Exact usage counters, kept by triggers under a row lock so that no burst of
-- parallel creates can overshoot a limit.
CREATE TABLE tenant_usage (
    tenant_id  uuid PRIMARY KEY REFERENCES tenants (id),
    workspaces integer NOT NULL DEFAULT 0 CHECK (workspaces >= 0),
    users      integer NOT NULL DEFAULT 0 CHECK (users >= 0)
);
ALTER TABLE tenant_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_usage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_usage
    USING (tenant_id = app.current_tenant())
    WITH CHECK (tenant_id = app.current_tenant());

-- A tenant's effective limit: the operator's override, else its plan's.
-- +goose StatementBegin
CREATE FUNCTION app.tenant_limit(t uuid, limit_name text) RETURNS integer
LANGUAGE sql STABLE
AS $$
    SELECT coalesce((tn.limits ->> limit_name)::integer, (p.limits ->> limit_name)::integer)
      FROM public.tenants tn JOIN public.plans p ON p.name = tn.plan
     WHERE tn.id = t
$$;
-- +goose StatementEnd

-- Moves a usage counter by delta, refusing to pass the limit. The UPDATE
-- takes the row lock; a waiting transaction re-checks the WHERE clause
-- against the committed count, which is what makes the limit exact.
-- +goose StatementBegin
CREATE FUNCTION app.bump_usage(t uuid, counter text, limit_name text, delta integer) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lim integer;
    done boolean;
BEGIN
    -- A row for another tenant is refused as RLS would refuse it (the
    -- BEFORE trigger runs before the policy's WITH CHECK).
    IF t IS DISTINCT FROM app.current_tenant() THEN
        RAISE EXCEPTION 'new row violates row-level security policy' USING ERRCODE = '42501';
    END IF;
    IF delta = 0 THEN RETURN; END IF;
    IF delta < 0 THEN
        EXECUTE format('UPDATE public.tenant_usage SET %1$I = %1$I + $2 WHERE tenant_id = $1', counter)
            USING t, delta;
        RETURN;
    END IF;
    lim := app.tenant_limit(t, limit_name);
    EXECUTE format('UPDATE public.tenant_usage SET %1$I = %1$I + $2 WHERE tenant_id = $1 AND %1$I + $2 <= $3 RETURNING true', counter)
        INTO done USING t, delta, lim;
    IF done IS NULL THEN
        RAISE EXCEPTION 'limit exceeded: %', limit_name
            USING ERRCODE = 'TDLIM', DETAIL = limit_name;
    END IF;
END
$$;
-- +goose StatementEnd

REVOKE EXECUTE ON FUNCTION app.bump_usage(uuid, text, text, integer) FROM PUBLIC;

GRANT SELECT ON plans TO tenantd_app, tenantd_platform;
GRANT SELECT ON tenants TO tenantd_app;
GRANT UPDATE (name, settings, updated_at) ON tenants TO tenantd_app;
GRANT SELECT, INSERT ON audit_events TO tenantd_app;
GRANT SELECT ON audit_heads, tenant_usage TO tenantd_app;
GRANT SELECT, DELETE ON audit_events TO tenantd_maint;
GRANT SELECT ON tenants TO tenantd_maint;
GRANT SELECT, INSERT, UPDATE ON tenants, audit_heads, tenant_usage TO tenantd_platform;
GRANT SELECT, INSERT ON audit_events TO tenantd_platform;

RESET ROLE;

-- +goose Down
DROP TABLE tenant_usage, audit_heads, audit_events, tenants, plans CASCADE;
