-- Every condition of a table's Row-Level Security in one permissive policy
-- per command, and no restrictive policy anywhere.
--
-- Until now a table held one permissive policy for every command (the
-- tenant) and restrictive policies ANDed to it (workspace roles, tenant
-- roles, a user's own idempotency keys). That depends on the engine keeping
-- the word RESTRICTIVE. A sharded engine that copies policies onto its
-- shards does not always keep it: Citus writes every policy to the shards
-- as permissive, and permissive policies are ORed, so an owner of one tenant
-- could read another tenant's workspaces through "workspace_reach" alone.
-- Written as one permissive policy per command, each holding the tenant and
-- every other condition, a policy that loses its kind loses nothing: there
-- is no restrictive policy to lose, and no second permissive policy for
-- the same command to OR with. The rows each role may read and write are
-- exactly those of before (TestPoliciesHoldWhenEveryPolicyIsPermissive,
-- TestWorkspacePolicyWithoutHandlerChecks and the isolation tests hold them).
--
-- Tables whose only policy is tenant_isolation (for all commands) already
-- have the form and are left alone. `tenantd verify-isolation` now reports
-- a restrictive policy on a tenant table, and a permissive policy without
-- the tenant as a top-level condition of each of its expressions.

-- +goose Up
SET LOCAL ROLE tenantd_owner;

-- users: everyone of the tenant reads; only owners, admins and the server
-- create or change users.
DROP POLICY tenant_isolation ON users;
DROP POLICY admin_insert ON users;
DROP POLICY admin_update ON users;
CREATE POLICY users_select ON users FOR SELECT
    USING (tenant_id = app.current_tenant());
CREATE POLICY users_insert ON users FOR INSERT
    WITH CHECK (tenant_id = app.current_tenant() AND app.is_tenant_admin());
CREATE POLICY users_update ON users FOR UPDATE
    USING (tenant_id = app.current_tenant() AND app.is_tenant_admin())
    WITH CHECK (tenant_id = app.current_tenant() AND app.is_tenant_admin());
CREATE POLICY users_delete ON users FOR DELETE
    USING (tenant_id = app.current_tenant());

-- workspaces: a member reads the workspaces they reach; only owners, admins
-- and the server create, rename or delete them.
DROP POLICY tenant_isolation ON workspaces;
DROP POLICY workspace_reach ON workspaces;
DROP POLICY admin_insert ON workspaces;
DROP POLICY admin_update ON workspaces;
CREATE POLICY workspaces_select ON workspaces FOR SELECT
    USING (tenant_id = app.current_tenant() AND app.can_reach_workspace(id));
CREATE POLICY workspaces_insert ON workspaces FOR INSERT
    WITH CHECK (tenant_id = app.current_tenant() AND app.is_tenant_admin());
CREATE POLICY workspaces_update ON workspaces FOR UPDATE
    USING (tenant_id = app.current_tenant() AND app.is_tenant_admin())
    WITH CHECK (tenant_id = app.current_tenant() AND app.is_tenant_admin());
CREATE POLICY workspaces_delete ON workspaces FOR DELETE
    USING (tenant_id = app.current_tenant());

-- workspace_members: a member sees the memberships of the workspaces they
-- reach, and their own; managers (and owners, admins, the server) manage.
DROP POLICY tenant_isolation ON workspace_members;
DROP POLICY member_reach ON workspace_members;
DROP POLICY manager_insert ON workspace_members;
DROP POLICY manager_update ON workspace_members;
DROP POLICY manager_delete ON workspace_members;
CREATE POLICY workspace_members_select ON workspace_members FOR SELECT
    USING (tenant_id = app.current_tenant()
           AND (app.can_reach_workspace(workspace_id) OR user_id = app.current_user_id()));
CREATE POLICY workspace_members_insert ON workspace_members FOR INSERT
    WITH CHECK (tenant_id = app.current_tenant() AND app.can_manage_workspace(workspace_id));
CREATE POLICY workspace_members_update ON workspace_members FOR UPDATE
    USING (tenant_id = app.current_tenant() AND app.can_manage_workspace(workspace_id))
    WITH CHECK (tenant_id = app.current_tenant() AND app.can_manage_workspace(workspace_id));
CREATE POLICY workspace_members_delete ON workspace_members FOR DELETE
    USING (tenant_id = app.current_tenant() AND app.can_manage_workspace(workspace_id));

-- audit_events: every request of the tenant appends; only owners, admins
-- and the server read.
DROP POLICY tenant_isolation ON audit_events;
DROP POLICY admin_read ON audit_events;
CREATE POLICY audit_events_select ON audit_events FOR SELECT
    USING (tenant_id = app.current_tenant() AND app.is_tenant_admin());
CREATE POLICY audit_events_insert ON audit_events FOR INSERT
    WITH CHECK (tenant_id = app.current_tenant());
CREATE POLICY audit_events_update ON audit_events FOR UPDATE
    USING (tenant_id = app.current_tenant())
    WITH CHECK (tenant_id = app.current_tenant());
CREATE POLICY audit_events_delete ON audit_events FOR DELETE
    USING (tenant_id = app.current_tenant());

-- idempotency_keys: a user's keys are their own, whatever their role; one
-- policy for every command.
DROP POLICY tenant_isolation ON idempotency_keys;
DROP POLICY own_keys ON idempotency_keys;
CREATE POLICY tenant_isolation ON idempotency_keys
    USING (tenant_id = app.current_tenant() AND user_id = app.current_user_id())
    WITH CHECK (tenant_id = app.current_tenant() AND user_id = app.current_user_id());

-- tenant_settings: the whole tenant reads; only owners, admins and the
-- server change them.
DROP POLICY tenant_isolation ON tenant_settings;
DROP POLICY admin_update ON tenant_settings;
CREATE POLICY tenant_settings_select ON tenant_settings FOR SELECT
    USING (tenant_id = app.current_tenant());
CREATE POLICY tenant_settings_insert ON tenant_settings FOR INSERT
    WITH CHECK (tenant_id = app.current_tenant());
CREATE POLICY tenant_settings_update ON tenant_settings FOR UPDATE
    USING (tenant_id = app.current_tenant() AND app.is_tenant_admin())
    WITH CHECK (tenant_id = app.current_tenant() AND app.is_tenant_admin());
CREATE POLICY tenant_settings_delete ON tenant_settings FOR DELETE
    USING (tenant_id = app.current_tenant());

RESET ROLE;

-- +goose Down
SET LOCAL ROLE tenantd_owner;

DROP POLICY tenant_settings_select ON tenant_settings;
DROP POLICY tenant_settings_insert ON tenant_settings;
DROP POLICY tenant_settings_update ON tenant_settings;
DROP POLICY tenant_settings_delete ON tenant_settings;
CREATE POLICY tenant_isolation ON tenant_settings
    USING (tenant_id = app.current_tenant()) WITH CHECK (tenant_id = app.current_tenant());
CREATE POLICY admin_update ON tenant_settings AS RESTRICTIVE FOR UPDATE USING (app.is_tenant_admin());

DROP POLICY tenant_isolation ON idempotency_keys;
CREATE POLICY tenant_isolation ON idempotency_keys
    USING (tenant_id = app.current_tenant()) WITH CHECK (tenant_id = app.current_tenant());
CREATE POLICY own_keys ON idempotency_keys AS RESTRICTIVE
    USING (user_id = app.current_user_id()) WITH CHECK (user_id = app.current_user_id());

DROP POLICY audit_events_select ON audit_events;
DROP POLICY audit_events_insert ON audit_events;
DROP POLICY audit_events_update ON audit_events;
DROP POLICY audit_events_delete ON audit_events;
CREATE POLICY tenant_isolation ON audit_events
    USING (tenant_id = app.current_tenant()) WITH CHECK (tenant_id = app.current_tenant());
CREATE POLICY admin_read ON audit_events AS RESTRICTIVE FOR SELECT USING (app.is_tenant_admin());

DROP POLICY workspace_members_select ON workspace_members;
DROP POLICY workspace_members_insert ON workspace_members;
DROP POLICY workspace_members_update ON workspace_members;
DROP POLICY workspace_members_delete ON workspace_members;
CREATE POLICY tenant_isolation ON workspace_members
    USING (tenant_id = app.current_tenant()) WITH CHECK (tenant_id = app.current_tenant());
CREATE POLICY member_reach ON workspace_members AS RESTRICTIVE FOR SELECT
    USING (app.can_reach_workspace(workspace_id) OR user_id = app.current_user_id());
CREATE POLICY manager_insert ON workspace_members AS RESTRICTIVE FOR INSERT
    WITH CHECK (app.can_manage_workspace(workspace_id));
CREATE POLICY manager_update ON workspace_members AS RESTRICTIVE FOR UPDATE
    USING (app.can_manage_workspace(workspace_id)) WITH CHECK (app.can_manage_workspace(workspace_id));
CREATE POLICY manager_delete ON workspace_members AS RESTRICTIVE FOR DELETE
    USING (app.can_manage_workspace(workspace_id));

DROP POLICY workspaces_select ON workspaces;
DROP POLICY workspaces_insert ON workspaces;
DROP POLICY workspaces_update ON workspaces;
DROP POLICY workspaces_delete ON workspaces;
CREATE POLICY tenant_isolation ON workspaces
    USING (tenant_id = app.current_tenant()) WITH CHECK (tenant_id = app.current_tenant());
CREATE POLICY workspace_reach ON workspaces AS RESTRICTIVE FOR SELECT USING (app.can_reach_workspace(id));
CREATE POLICY admin_insert ON workspaces AS RESTRICTIVE FOR INSERT WITH CHECK (app.is_tenant_admin());
CREATE POLICY admin_update ON workspaces AS RESTRICTIVE FOR UPDATE USING (app.is_tenant_admin());

DROP POLICY users_select ON users;
DROP POLICY users_insert ON users;
DROP POLICY users_update ON users;
DROP POLICY users_delete ON users;
CREATE POLICY tenant_isolation ON users
    USING (tenant_id = app.current_tenant()) WITH CHECK (tenant_id = app.current_tenant());
CREATE POLICY admin_insert ON users AS RESTRICTIVE FOR INSERT WITH CHECK (app.is_tenant_admin());
CREATE POLICY admin_update ON users AS RESTRICTIVE FOR UPDATE USING (app.is_tenant_admin());

RESET ROLE;
