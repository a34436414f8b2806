-- The session check of the request flow (request flow step 4, docs/architecture.md), inside every
-- transaction of a user's request, in its first round trip: the session is
-- live, the user active with the role the server believes, the tenant
-- active, and the user's workspace roles the ones the server set. The
-- server caches what it believes; this makes a revocation, a demotion or a
-- membership change win at once, without an extra round trip.

-- +goose Up
SET LOCAL ROLE tenantd_owner;

-- +goose StatementBegin
CREATE FUNCTION app.guard_session(p_tenant uuid, p_user uuid, p_session uuid, p_role text, p_workspaces jsonb)
RETURNS boolean
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1
          FROM public.sessions s
          JOIN public.users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
          JOIN public.tenants t ON t.id = s.tenant_id
         WHERE s.tenant_id = p_tenant AND s.id = p_session AND s.user_id = p_user
           AND s.revoked_at IS NULL AND s.expires_at > now()
           AND u.status = 'active' AND u.role = p_role AND t.status = 'active')
       -- The same set LoadPrincipal reads (a member always sees their own
       -- memberships, whatever workspaces the scope lets them reach).
       OR coalesce((SELECT jsonb_object_agg(m.workspace_id, m.role)
                      FROM public.workspace_members m
                     WHERE m.tenant_id = p_tenant AND m.user_id = p_user),
                   '{}'::jsonb) <> p_workspaces
    THEN
        RAISE EXCEPTION 'stale session scope' USING ERRCODE = 'TDSTL';
    END IF;
    RETURN true;
END
$$;
-- +goose StatementEnd

RESET ROLE;

-- +goose Down
DROP FUNCTION app.guard_session(uuid, uuid, uuid, text, jsonb);
