-- The plans as the catalogue in Go (tenantd.PlanCatalogue, plan.go) says,
-- one feature per member: {"custom_branding": …, "api_rate_limit": {…},
-- "data_retention": {…}}. A beta is a member of its own, "beta.<name>":
-- true, where an operator turns it on; no plan does. The list
-- "beta_features" goes; data_retention's "sends_days" becomes "send_days".
-- TestPlansTableIsTheCatalogue holds this table to the catalogue.
--
-- An operator's override replaces a whole feature, so the overrides of
-- api_rate_limit and data_retention that named only some of their members
-- are completed from the tenant's plan.

-- +goose Up
SET LOCAL ROLE tenantd_owner;

UPDATE plans SET limits = v.limits::jsonb, features = v.features::jsonb
  FROM (VALUES
    ('free', '{"max_workspaces": 3, "max_users": 5, "email_sends_per_month": 1000}',
             '{"custom_branding": false, "api_rate_limit": {"rate": 600, "period_seconds": 60, "burst": 60}, "data_retention": {"audit_days": 90, "send_days": 90, "deleted_days": 30}}'),
    ('pro', '{"max_workspaces": 10, "max_users": 25, "email_sends_per_month": 50000}',
            '{"custom_branding": false, "api_rate_limit": {"rate": 3000, "period_seconds": 60, "burst": 300}, "data_retention": {"audit_days": 365, "send_days": 365, "deleted_days": 30}}'),
    ('enterprise', '{"max_workspaces": 100, "max_users": 500, "email_sends_per_month": 1000000}',
                   '{"custom_branding": true, "api_rate_limit": {"rate": 12000, "period_seconds": 60, "burst": 1200}, "data_retention": {"audit_days": 2555, "send_days": 730, "deleted_days": 90}}')
  ) AS v (name, limits, features)
 WHERE plans.name = v.name;

-- Overrides in the new form: the beta list becomes one member per beta,
-- sends_days send_days, and partial objects are completed from the plan.
-- As tenantd_platform, the role that provisions tenants: it sees every
-- tenant's row (the owner, under forced RLS, would see none). Each row is
-- changed in its tenant's context, which its audit event needs: the
-- rewrite is recorded in the tenant's log like any other change.
SET LOCAL ROLE tenantd_platform;
-- +goose StatementBegin
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT o.id, o.features FROM (
            SELECT tn.id, tn.features AS old,
                   tn.features - 'beta_features'
                     || coalesce((SELECT jsonb_object_agg('beta.' || b, true)
                                    FROM jsonb_array_elements_text(
                                           CASE jsonb_typeof(tn.features -> 'beta_features')
                                                WHEN 'array' THEN tn.features -> 'beta_features' ELSE '[]' END) b), '{}')
                     || CASE WHEN jsonb_typeof(tn.features -> 'api_rate_limit') = 'object'
                             THEN jsonb_build_object('api_rate_limit',
                                     (p.features -> 'api_rate_limit') || (tn.features -> 'api_rate_limit'))
                             ELSE '{}' END
                     || CASE WHEN jsonb_typeof(tn.features -> 'data_retention') = 'object'
                             THEN jsonb_build_object('data_retention', (p.features -> 'data_retention')
                                     || jsonb_strip_nulls(jsonb_build_object('send_days', tn.features -> 'data_retention' -> 'sends_days'))
                                     || ((tn.features -> 'data_retention') - 'sends_days'))
                             ELSE '{}' END AS features
              FROM public.tenants tn JOIN public.plans p ON p.name = tn.plan
             WHERE tn.features <> '{}') o
         WHERE o.features IS DISTINCT FROM o.old
    LOOP
        PERFORM set_config('app.tenant_id', r.id::text, true);
        UPDATE public.tenants SET features = r.features WHERE id = r.id;
    END LOOP;
    PERFORM set_config('app.tenant_id', '', true);
END
$$;
-- +goose StatementEnd

RESET ROLE;

-- +goose Down
SET LOCAL ROLE tenantd_owner;
UPDATE plans SET features = (features - 'data_retention')
    || jsonb_build_object('beta_features', '[]'::jsonb,
                          'data_retention', (features -> 'data_retention' - 'send_days')
                              || jsonb_build_object('sends_days', features -> 'data_retention' -> 'send_days'));
RESET ROLE;
