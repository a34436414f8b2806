-- Workspaces and their members. Besides the tenant policy, restrictive
-- policies make the database itself enforce workspace roles: a member reaches only
-- the workspaces they belong to, and only owners and admins create, rename
-- or delete workspaces; managers manage members. The reachable workspace ids
-- come from transaction settings, so no policy has a subquery.

-- +goose Up
SET LOCAL ROLE tenantd_owner;

CREATE TABLE workspaces (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX workspaces_name ON workspaces (tenant_id, lower(name)) WHERE deleted_at IS NULL;
CREATE INDEX workspaces_live ON workspaces (tenant_id, created_at, id) WHERE deleted_at IS NULL;
ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE workspaces FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON workspaces
    USING (tenant_id = app.current_tenant())
    WITH CHECK (tenant_id = app.current_tenant());
CREATE POLICY workspace_reach ON workspaces AS RESTRICTIVE FOR SELECT
    USING (app.can_reach_workspace(id));
CREATE POLICY admin_insert ON workspaces AS RESTRICTIVE FOR INSERT
    WITH CHECK (app.is_tenant_admin());
CREATE POLICY admin_update ON workspaces AS RESTRICTIVE FOR UPDATE
    USING (app.is_tenant_admin());

CREATE TRIGGER audit_row AFTER INSERT OR UPDATE ON workspaces
    FOR EACH ROW EXECUTE FUNCTION app.audit_row('workspace', 'id');

-- Keeps tenant_usage.workspaces exact: deleted workspaces do not count.
-- +goose StatementBegin
CREATE FUNCTION app.count_workspaces() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    before integer := 0;
    after  integer := 0;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.deleted_at IS NULL THEN before := 1; END IF;
    IF NEW.deleted_at IS NULL THEN after := 1; END IF;
    PERFORM app.bump_usage(NEW.tenant_id, 'workspaces', 'max_workspaces', after - before);
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER count_workspaces BEFORE INSERT OR UPDATE OF deleted_at ON workspaces
    FOR EACH ROW EXECUTE FUNCTION app.count_workspaces();

CREATE TABLE workspace_members (
    tenant_id    uuid NOT NULL,
    workspace_id uuid NOT NULL,
    user_id      uuid NOT NULL,
    role         text NOT NULL CHECK (role IN ('manager', 'editor', 'viewer')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, workspace_id, user_id),
    FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX workspace_members_user ON workspace_members (tenant_id, user_id);
ALTER TABLE workspace_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE workspace_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON workspace_members
    USING (tenant_id = app.current_tenant())
    WITH CHECK (tenant_id = app.current_tenant());
-- A member sees the memberships of the workspaces they reach, and their own.
CREATE POLICY member_reach ON workspace_members AS RESTRICTIVE FOR SELECT
    USING (app.can_reach_workspace(workspace_id) OR user_id = app.current_user_id());
CREATE POLICY manager_insert ON workspace_members AS RESTRICTIVE FOR INSERT
    WITH CHECK (app.can_manage_workspace(workspace_id));
CREATE POLICY manager_update ON workspace_members AS RESTRICTIVE FOR UPDATE
    USING (app.can_manage_workspace(workspace_id))
    WITH CHECK (app.can_manage_workspace(workspace_id));
CREATE POLICY manager_delete ON workspace_members AS RESTRICTIVE FOR DELETE
    USING (app.can_manage_workspace(workspace_id));

CREATE TRIGGER audit_row AFTER INSERT OR UPDATE OR DELETE ON workspace_members
    FOR EACH ROW EXECUTE FUNCTION app.audit_row('workspace_member', 'user_id');

GRANT SELECT, INSERT ON workspaces TO tenantd_app;
GRANT UPDATE (name, description, updated_at, deleted_at) ON workspaces TO tenantd_app;
GRANT SELECT, INSERT, DELETE ON workspace_members TO tenantd_app;
GRANT UPDATE (role, updated_at) ON workspace_members TO tenantd_app;

RESET ROLE;

-- +goose Down
DROP TABLE workspace_members, workspaces CASCADE;
