-- Audited writes no longer wait for each other: the chain is sealed off the
-- write path.
--
-- Until now a BEFORE INSERT trigger (app.audit_chain) locked the tenant's
-- audit_heads row, gave the event the next seq, hashed it and moved the
-- head, in the writer's transaction. The lock was held until COMMIT, so a
-- tenant's writers ran one at a time, and every event also updated the head
-- row (an import of n rows updated it n times in one transaction, each
-- update walking the versions made before it).
--
-- Now a write only inserts its event, unsealed: no seq, prev_hash or hash
-- yet, only pos, the order of writing (a sequence: no lock, no wait).
-- A sealer (app.seal_audit_events, run by every server instance every
-- TENANTD_AUDIT_SEAL_EVERY) takes the tenant's head row FOR UPDATE SKIP
-- LOCKED, so that one sealer at a time chains a tenant and the others skip
-- it; gives the committed unsealed events, in pos order, the next seqs;
-- hashes each exactly as before (app.audit_canonical, the same bytes, so
-- every existing hash still verifies); writes them with one UPDATE; and
-- moves the head. seq is still gapless per tenant and the order of the
-- chain; once given it never changes. An event that commits after later
-- ones were sealed is sealed after them: seq and pos may then disagree by
-- a few places, which is why pages and exports are keyed on pos.
--
-- The application role may insert only an event's content: seq, prev_hash,
-- hash, pos and occurred_at (clock_timestamp() at the insert, as the
-- trigger stamped it) are the database's. Only tenantd_maint, through the
-- sealer, may set seq, prev_hash and hash, and only on unsealed events.

-- +goose Up
SET LOCAL ROLE tenantd_owner;

DROP TRIGGER audit_chain ON audit_events;
DROP FUNCTION app.audit_chain();

-- pos: existing events in their chain's order.
CREATE SEQUENCE audit_events_pos_seq AS bigint;
ALTER TABLE audit_events ADD COLUMN pos bigint;
UPDATE audit_events e SET pos = o.pos
  FROM (SELECT tenant_id, seq, row_number() OVER (ORDER BY tenant_id, seq) AS pos FROM audit_events) o
 WHERE e.tenant_id = o.tenant_id AND e.seq = o.seq;
SELECT setval('audit_events_pos_seq', coalesce((SELECT max(pos) FROM audit_events), 0) + 1, false);
ALTER SEQUENCE audit_events_pos_seq OWNED BY audit_events.pos;

-- A flag for the platform names its event by pos.
ALTER TABLE platform_flags ADD COLUMN pos bigint;
UPDATE platform_flags f SET pos = e.pos FROM audit_events e WHERE e.tenant_id = f.tenant_id AND e.seq = f.seq;
ALTER TABLE platform_flags DROP CONSTRAINT platform_flags_tenant_id_seq_fkey;
ALTER TABLE platform_flags DROP CONSTRAINT platform_flags_pkey;
ALTER TABLE platform_flags DROP COLUMN seq;
ALTER TABLE platform_flags ALTER COLUMN pos SET NOT NULL;
ALTER TABLE platform_flags ADD PRIMARY KEY (tenant_id, pos);

ALTER TABLE audit_events DROP CONSTRAINT audit_events_pkey;
ALTER TABLE audit_events
    ALTER COLUMN pos SET DEFAULT nextval('audit_events_pos_seq'),
    ALTER COLUMN pos SET NOT NULL,
    ALTER COLUMN occurred_at SET DEFAULT clock_timestamp(),
    ALTER COLUMN seq DROP NOT NULL,
    ALTER COLUMN prev_hash DROP NOT NULL,
    ALTER COLUMN prev_hash DROP DEFAULT,
    ALTER COLUMN hash DROP NOT NULL,
    ALTER COLUMN hash DROP DEFAULT,
    ADD PRIMARY KEY (tenant_id, pos);

-- The rules of an event's action, actor type and outcome, as domains
-- instead of CHECK constraints: the same rules, but a table's CHECK
-- constraints are read back from the catalog and prepared anew by every
-- statement that writes a row (every audited write's trigger INSERT), a
-- domain's once per session.
CREATE DOMAIN app.audit_action AS text CHECK (VALUE ~ '^[a-z_]+(\.[a-z_]+)+$');
CREATE DOMAIN app.audit_actor_type AS text CHECK (VALUE IN ('user', 'operator', 'system', 'anonymous'));
CREATE DOMAIN app.audit_outcome AS text CHECK (VALUE IN ('success', 'denied', 'failed'));
ALTER TABLE audit_events
    DROP CONSTRAINT audit_events_action_check,
    DROP CONSTRAINT audit_events_actor_type_check,
    DROP CONSTRAINT audit_events_outcome_check,
    ALTER COLUMN action TYPE app.audit_action,
    ALTER COLUMN actor_type TYPE app.audit_actor_type,
    ALTER COLUMN outcome TYPE app.audit_outcome;

-- A purge of the oldest events (app.purge_audit_through) takes their flags
-- with them.
ALTER TABLE platform_flags ADD FOREIGN KEY (tenant_id, pos) REFERENCES audit_events (tenant_id, pos) ON DELETE CASCADE;

-- A write inserts into two indexes: the primary key and the sealer's
-- queue. Every other index covers sealed events only: the sealer's UPDATE
-- writes a new version of the row, and so new entries in every index,
-- anyway, so they cost the write nothing and the sealer nothing more.
-- Reads take the few unsealed events through the queue.
--
-- What the sealer has still to do.
CREATE INDEX audit_events_unsealed ON audit_events (tenant_id, pos) WHERE seq IS NULL;
-- The chain, for verification and purges.
CREATE UNIQUE INDEX audit_events_seq ON audit_events (tenant_id, seq) WHERE seq IS NOT NULL;
-- The filters of the audit log, newest first by pos.
DROP INDEX audit_events_action, audit_events_flagged, audit_events_target, audit_events_actor;
CREATE INDEX audit_events_action ON audit_events (tenant_id, action, pos) WHERE seq IS NOT NULL;
CREATE INDEX audit_events_flagged ON audit_events (tenant_id, pos) WHERE flagged AND seq IS NOT NULL;
CREATE INDEX audit_events_target ON audit_events (tenant_id, target_type, target_id, pos) WHERE seq IS NOT NULL;
CREATE INDEX audit_events_actor ON audit_events (tenant_id, actor_id, pos) WHERE seq IS NOT NULL;

RESET ROLE;

-- Chains up to p_limit of the tenant's unsealed events, oldest pos first,
-- and returns how many (0 when another sealer holds the tenant's head:
-- it is sealing them). Each event gets the next seq and
--
--   prev_hash = the head's hash,  hash = sha256(prev_hash || canonical(event))
--
-- as docs/audit-chain.md defines, and the head moves to the last one. The
-- head's row lock orders sealers; writers never take it. Only the server,
-- in the tenant's own context, may call it; it runs as tenantd_maint, the
-- one role that may set an event's seal.
-- +goose StatementBegin
CREATE FUNCTION app.seal_audit_events(p_tenant uuid, p_limit integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    head_seq  bigint;
    head_hash bytea;
    e         public.audit_events;
    n         integer := 0;
    positions bigint[] := '{}';
    prevs     bytea[] := '{}';
    hashes    bytea[] := '{}';
    sealed    integer;
BEGIN
    IF p_tenant IS DISTINCT FROM app.current_tenant() OR app.tenant_role() <> 'system' THEN
        RAISE EXCEPTION 'only the server seals audit events, in the tenant''s own context' USING ERRCODE = '42501';
    END IF;
    SELECT h.seq, h.hash INTO head_seq, head_hash
      FROM public.audit_heads h WHERE h.tenant_id = p_tenant
       FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    -- A statement of its own, so its snapshot is taken with the head
    -- locked: it sees every event a previous sealer sealed.
    FOR e IN
        SELECT * FROM public.audit_events a
         WHERE a.tenant_id = p_tenant AND a.seq IS NULL
         ORDER BY a.pos
         LIMIT greatest(p_limit, 1)
    LOOP
        n := n + 1;
        e.seq := head_seq + n;
        positions[n] := e.pos;
        prevs[n] := head_hash;
        head_hash := sha256(head_hash || convert_to(app.audit_canonical(e), 'UTF8'));
        hashes[n] := head_hash;
    END LOOP;
    IF n = 0 THEN
        RETURN 0;
    END IF;
    UPDATE public.audit_events a
       SET seq = head_seq + s.i, prev_hash = s.prev_hash, hash = s.hash
      FROM unnest(positions, prevs, hashes) WITH ORDINALITY AS s(pos, prev_hash, hash, i)
     WHERE a.tenant_id = p_tenant AND a.pos = s.pos AND a.seq IS NULL;
    GET DIAGNOSTICS sealed = ROW_COUNT;
    IF sealed <> n THEN
        RAISE EXCEPTION 'sealing tenant %: % of % events changed under the sealer', p_tenant, n - sealed, n;
    END IF;
    UPDATE public.audit_heads SET seq = head_seq + n, hash = head_hash WHERE tenant_id = p_tenant;
    RETURN n;
END
$$;
-- +goose StatementEnd

-- The tenants with unsealed events, the longest waiting first: how many
-- each has and when the oldest was written. For the sealer (which tenants
-- to seal) and its metrics; it sees every tenant, so it is a platform
-- function (BYPASSRLS owner) that answers nothing but that.
-- +goose StatementBegin
CREATE FUNCTION app.unsealed_audit_tenants(p_limit integer)
RETURNS TABLE (tenant_id uuid, events bigint, oldest timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.tenant_id, count(*), min(e.occurred_at)
      FROM public.audit_events e
     WHERE e.seq IS NULL
     GROUP BY e.tenant_id
     ORDER BY min(e.occurred_at)
     LIMIT least(greatest(p_limit, 1), 100000)
$$;
-- +goose StatementEnd

-- Flagged events of every tenant, paged on (occurred_at, tenant_id, pos):
-- 00015's function with pos for seq as the key (an unsealed event has no
-- seq yet), and seq (NULL until sealed) in the answer.
DROP FUNCTION app.flagged_events_page(timestamptz, uuid, bigint, integer);
-- +goose StatementBegin
CREATE FUNCTION app.flagged_events_page(p_at timestamptz, p_tenant uuid, p_pos bigint, p_limit integer)
RETURNS TABLE (tenant_id uuid, tenant_slug text, pos bigint, seq bigint, event_id uuid, occurred_at timestamptz,
               actor_type text, actor_id text, action text, target_type text, target_id text,
               outcome text, flag_reason text, ip text, user_agent text, request_id text, changes jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.tenant_id, t.slug, e.pos, e.seq, e.id, e.occurred_at, e.actor_type, e.actor_id, e.action,
           e.target_type, e.target_id, e.outcome, e.reason, abbrev(e.ip), e.user_agent,
           e.request_id, e.changes
      FROM (SELECT a.*, a.flag_reason AS reason FROM public.audit_events a WHERE a.flagged
            UNION ALL
            SELECT a.*, f.flag_reason FROM public.platform_flags f
              JOIN public.audit_events a ON a.tenant_id = f.tenant_id AND a.pos = f.pos
             WHERE NOT a.flagged) e
      JOIN public.tenants t ON t.id = e.tenant_id
     WHERE p_at IS NULL OR (e.occurred_at, e.tenant_id, e.pos) < (p_at, p_tenant, p_pos)
     ORDER BY e.occurred_at DESC, e.tenant_id DESC, e.pos DESC
     LIMIT least(greatest(p_limit, 1), 500)
$$;
-- +goose StatementEnd

ALTER FUNCTION app.seal_audit_events(uuid, integer) OWNER TO tenantd_maint;
ALTER FUNCTION app.unsealed_audit_tenants(integer) OWNER TO tenantd_platform;
ALTER FUNCTION app.flagged_events_page(timestamptz, uuid, bigint, integer) OWNER TO tenantd_platform;
REVOKE EXECUTE ON FUNCTION app.seal_audit_events(uuid, integer), app.unsealed_audit_tenants(integer),
    app.flagged_events_page(timestamptz, uuid, bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.seal_audit_events(uuid, integer), app.unsealed_audit_tenants(integer),
    app.flagged_events_page(timestamptz, uuid, bigint, integer) TO tenantd_app;

-- Writers insert an event's content, nothing else.
REVOKE INSERT ON audit_events FROM tenantd_app, tenantd_maint, tenantd_platform;
GRANT INSERT (tenant_id, actor_type, actor_id, action, target_type, target_id, outcome, flagged,
              flag_reason, ip, user_agent, request_id, changes)
    ON audit_events TO tenantd_app, tenantd_maint, tenantd_platform;
GRANT USAGE ON SEQUENCE audit_events_pos_seq TO tenantd_app, tenantd_maint, tenantd_platform;
-- The sealer.
GRANT UPDATE (seq, prev_hash, hash) ON audit_events TO tenantd_maint;
GRANT SELECT, UPDATE (seq, hash) ON audit_heads TO tenantd_maint;

-- +goose Down
-- Only a fully sealed log goes back to sealing at write time.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM audit_events WHERE seq IS NULL) THEN
        RAISE EXCEPTION 'unsealed audit events: seal them (tenantd audit seal) before migrating down';
    END IF;
END
$$;
-- +goose StatementEnd
REVOKE UPDATE (seq, prev_hash, hash) ON audit_events FROM tenantd_maint;
REVOKE SELECT, UPDATE (seq, hash) ON audit_heads FROM tenantd_maint;
REVOKE INSERT (tenant_id, actor_type, actor_id, action, target_type, target_id, outcome, flagged,
               flag_reason, ip, user_agent, request_id, changes)
    ON audit_events FROM tenantd_app, tenantd_maint, tenantd_platform;
GRANT INSERT ON audit_events TO tenantd_app, tenantd_maint, tenantd_platform;
DROP FUNCTION app.flagged_events_page(timestamptz, uuid, bigint, integer);
DROP FUNCTION app.unsealed_audit_tenants(integer);
DROP FUNCTION app.seal_audit_events(uuid, integer);

SET LOCAL ROLE tenantd_owner;

-- +goose StatementBegin
CREATE FUNCTION app.flagged_events_page(p_at timestamptz, p_tenant uuid, p_seq bigint, p_limit integer)
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

DROP INDEX audit_events_action, audit_events_flagged, audit_events_target, audit_events_actor,
    audit_events_unsealed, audit_events_seq;
ALTER TABLE platform_flags ADD COLUMN seq bigint;
UPDATE platform_flags f SET seq = e.seq FROM audit_events e WHERE e.tenant_id = f.tenant_id AND e.pos = f.pos;
ALTER TABLE platform_flags DROP CONSTRAINT platform_flags_tenant_id_pos_fkey;
ALTER TABLE platform_flags DROP CONSTRAINT platform_flags_pkey;
ALTER TABLE platform_flags DROP COLUMN pos;
ALTER TABLE audit_events DROP CONSTRAINT audit_events_pkey;
ALTER TABLE audit_events
    ALTER COLUMN action TYPE text,
    ALTER COLUMN actor_type TYPE text,
    ALTER COLUMN outcome TYPE text,
    ADD CONSTRAINT audit_events_action_check CHECK (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
    ADD CONSTRAINT audit_events_actor_type_check CHECK (actor_type IN ('user', 'operator', 'system', 'anonymous')),
    ADD CONSTRAINT audit_events_outcome_check CHECK (outcome IN ('success', 'denied', 'failed'));
DROP DOMAIN app.audit_action, app.audit_actor_type, app.audit_outcome;
ALTER TABLE audit_events
    ALTER COLUMN seq SET NOT NULL,
    ALTER COLUMN prev_hash SET NOT NULL,
    ALTER COLUMN prev_hash SET DEFAULT '\x',
    ALTER COLUMN hash SET NOT NULL,
    ALTER COLUMN hash SET DEFAULT '\x',
    ALTER COLUMN occurred_at SET DEFAULT now();
ALTER TABLE audit_events DROP COLUMN pos;
ALTER TABLE audit_events ADD PRIMARY KEY (tenant_id, seq);
ALTER TABLE platform_flags ALTER COLUMN seq SET NOT NULL;
ALTER TABLE platform_flags ADD PRIMARY KEY (tenant_id, seq);
ALTER TABLE platform_flags ADD FOREIGN KEY (tenant_id, seq) REFERENCES audit_events (tenant_id, seq) ON DELETE CASCADE;
CREATE INDEX audit_events_action ON audit_events (tenant_id, action, seq);
CREATE INDEX audit_events_flagged ON audit_events (tenant_id, seq) WHERE flagged;
CREATE INDEX audit_events_target ON audit_events (tenant_id, target_type, target_id, seq);
CREATE INDEX audit_events_actor ON audit_events (tenant_id, actor_id, seq);

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

RESET ROLE;
