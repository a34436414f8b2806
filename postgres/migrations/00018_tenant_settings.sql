-- Tenant settings in a table of their own, one row per tenant and one
-- column per setting (NULL: unset, the default applies), so that the row
-- trigger records every change as one settings.updated event with the old
-- and new value of each setting that changed: the audit log is the
-- settings history. tenants.settings, never read, goes.
--
-- And app.audit_row no longer records fields that did not change: a
-- column that is NULL before and after (deleted_at when a workspace is
-- created) showed as "deleted_at": {}.

-- +goose Up
SET LOCAL ROLE tenantd_owner;

-- A JSON null and an absent member are the same to the comparison: on
-- INSERT the old row has no members, on DELETE the new row has none.
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
       AND coalesce(old_row -> k, 'null') IS DISTINCT FROM coalesce(new_row -> k, 'null');

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

-- The rules of each setting are tenantd's (settings.go); these checks are
-- the last line: bounded sizes, one line of text, the colour's form.
CREATE TABLE tenant_settings (
    tenant_id         uuid PRIMARY KEY REFERENCES tenants (id),
    company_name      text CHECK (char_length(company_name) BETWEEN 1 AND 200),
    company_address   text CHECK (char_length(company_address) BETWEEN 1 AND 500),
    timezone          text CHECK (char_length(timezone) BETWEEN 1 AND 64),
    date_format       text CHECK (char_length(date_format) BETWEEN 1 AND 16),
    email_sender_name text CHECK (char_length(email_sender_name) BETWEEN 1 AND 100),
    default_reply_to  text CHECK (char_length(default_reply_to) BETWEEN 3 AND 254),
    logo_url          text CHECK (char_length(logo_url) BETWEEN 9 AND 2048),
    primary_color     text CHECK (primary_color ~ '^#[0-9a-f]{6}$'),
    custom_domain     text CHECK (char_length(custom_domain) BETWEEN 3 AND 253),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (concat(company_name, company_address, email_sender_name, default_reply_to) !~ '[[:cntrl:]]')
);
ALTER TABLE tenant_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_settings
    USING (tenant_id = app.current_tenant())
    WITH CHECK (tenant_id = app.current_tenant());
-- Only owners and admins change settings, whatever the handler forgot to
-- check; the whole tenant may read them (the console shows dates in the
-- tenant's time zone to everyone).
CREATE POLICY admin_update ON tenant_settings AS RESTRICTIVE FOR UPDATE USING (app.is_tenant_admin());

CREATE TRIGGER audit_row AFTER UPDATE ON tenant_settings
    FOR EACH ROW EXECUTE FUNCTION app.audit_row('settings', 'tenant_id');

GRANT SELECT, UPDATE (company_name, company_address, timezone, date_format, email_sender_name,
                      default_reply_to, logo_url, primary_color, custom_domain, updated_at)
    ON tenant_settings TO tenantd_app;
GRANT SELECT, INSERT ON tenant_settings TO tenantd_platform;
GRANT SELECT ON tenant_settings TO tenantd_maint;

-- Provisioning creates the settings row with the tenant (all unset). The
-- function stays tenantd_platform's: replacing it takes the migrating
-- role, not tenantd_owner.
RESET ROLE;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.create_tenant(p_slug text, p_name text, p_plan text, p_region text)
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
    INSERT INTO public.tenant_settings (tenant_id) VALUES (new_id);
    RETURN new_id;
END
$$;
-- +goose StatementEnd

-- Every tenant of today gets its row, with the settings tenants.settings
-- held (nothing wrote them through the API; kept if present).
SET LOCAL ROLE tenantd_platform;
INSERT INTO tenant_settings (tenant_id, company_name, company_address, timezone, date_format,
                             email_sender_name, default_reply_to, logo_url, primary_color, custom_domain)
SELECT t.id, t.settings ->> 'company_name', t.settings ->> 'company_address', t.settings ->> 'timezone',
       t.settings ->> 'date_format', t.settings ->> 'email_sender_name', t.settings ->> 'default_reply_to',
       t.settings -> 'branding' ->> 'logo_url', t.settings -> 'branding' ->> 'primary_color',
       t.settings -> 'branding' ->> 'custom_domain'
  FROM tenants t;
SET LOCAL ROLE tenantd_owner;

ALTER TABLE tenants DROP COLUMN settings;

RESET ROLE;

-- +goose Down
SET LOCAL ROLE tenantd_owner;
ALTER TABLE tenants ADD COLUMN settings jsonb NOT NULL DEFAULT '{}';
GRANT UPDATE (settings) ON tenants TO tenantd_app;
RESET ROLE;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.create_tenant(p_slug text, p_name text, p_plan text, p_region text)
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
SET LOCAL ROLE tenantd_owner;
DROP TABLE tenant_settings;
RESET ROLE;
