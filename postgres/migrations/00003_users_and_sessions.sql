-- Users, sessions and invitations: identity inside one tenant. A user row
-- belongs to exactly one tenant; the same email elsewhere is another user.
-- Every tenant table: tenant_id leads the primary key, unique constraints,
-- foreign keys and indexes; RLS enabled and forced; one tenant policy.

-- +goose Up
SET LOCAL ROLE tenantd_owner;

CREATE TABLE users (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    email         text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    password_hash text,  -- NULL while an invitation is pending
    role          text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'invited', 'disabled', 'deactivated')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users
    USING (tenant_id = app.current_tenant())
    WITH CHECK (tenant_id = app.current_tenant());
-- Only owners, admins and the server itself change users, whatever the
-- handler forgot to check.
CREATE POLICY admin_insert ON users AS RESTRICTIVE FOR INSERT WITH CHECK (app.is_tenant_admin());
CREATE POLICY admin_update ON users AS RESTRICTIVE FOR UPDATE USING (app.is_tenant_admin());

CREATE TRIGGER audit_row AFTER INSERT OR UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION app.audit_row('user', 'id', 'password_hash');

-- Keeps tenant_usage.users exact: every user but a deactivated one counts.
-- +goose StatementBegin
CREATE FUNCTION app.count_users() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    before integer := 0;
    after  integer := 0;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status <> 'deactivated' THEN before := 1; END IF;
    IF NEW.status <> 'deactivated' THEN after := 1; END IF;
    PERFORM app.bump_usage(NEW.tenant_id, 'users', 'max_users', after - before);
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER count_users BEFORE INSERT OR UPDATE OF status ON users
    FOR EACH ROW EXECUTE FUNCTION app.count_users();

-- The last active owner can be neither demoted, disabled nor deactivated.
-- +goose StatementBegin
CREATE FUNCTION app.keep_an_owner() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.role = 'owner' AND OLD.status = 'active'
       AND (NEW.role <> 'owner' OR NEW.status <> 'active') THEN
        -- Lock the tenant's owners so two concurrent demotions cannot both pass.
        PERFORM 1 FROM public.users
          WHERE tenant_id = OLD.tenant_id AND role = 'owner' AND status = 'active' FOR UPDATE;
        IF NOT EXISTS (SELECT 1 FROM public.users
                        WHERE tenant_id = OLD.tenant_id AND role = 'owner'
                          AND status = 'active' AND id <> OLD.id) THEN
            RAISE EXCEPTION 'the last owner cannot be demoted, disabled or deactivated'
                USING ERRCODE = 'TDOWN';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER keep_an_owner BEFORE UPDATE OF role, status ON users
    FOR EACH ROW EXECUTE FUNCTION app.keep_an_owner();

CREATE TABLE sessions (
    tenant_id          uuid NOT NULL,
    id                 uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id            uuid NOT NULL,
    refresh_hash       bytea NOT NULL,
    refresh_generation integer NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    refreshed_at       timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz NOT NULL,
    revoked_at         timestamptz,
    revoked_reason     text NOT NULL DEFAULT '',
    ip                 inet,
    user_agent         text NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX sessions_live ON sessions (tenant_id, user_id) WHERE revoked_at IS NULL;
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sessions
    USING (tenant_id = app.current_tenant())
    WITH CHECK (tenant_id = app.current_tenant());

CREATE TABLE invitations (
    tenant_id   uuid NOT NULL,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL,
    token_hash  bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invitations
    USING (tenant_id = app.current_tenant())
    WITH CHECK (tenant_id = app.current_tenant());

-- Platform table: token signing keys, private parts sealed with a master key
-- kept outside the database (TENANTD_MASTER_KEY or a 0600 file).
CREATE TABLE signing_keys (
    kid            text PRIMARY KEY,
    alg            text NOT NULL CHECK (alg IN ('EdDSA', 'ES256')),
    public_key     bytea NOT NULL,
    private_sealed bytea NOT NULL,
    active         boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    not_after      timestamptz
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (active) WHERE active;

-- Platform table: security events that belong to no verified tenant (a
-- token that failed verification, a login to an unknown tenant). claimed_tenant_id
-- is what the request claimed, never trusted.
CREATE TABLE security_events (
    id                bigserial PRIMARY KEY,
    occurred_at       timestamptz NOT NULL DEFAULT now(),
    action            text NOT NULL,
    reason            text NOT NULL DEFAULT '',
    claimed_tenant_id uuid,
    ip                inet,
    user_agent        text NOT NULL DEFAULT '',
    request_id        text NOT NULL DEFAULT ''
);

GRANT SELECT, INSERT ON users TO tenantd_app;
GRANT UPDATE (password_hash, role, status, updated_at) ON users TO tenantd_app;
GRANT SELECT, INSERT ON sessions TO tenantd_app;
GRANT UPDATE (refresh_hash, refresh_generation, refreshed_at, revoked_at, revoked_reason) ON sessions TO tenantd_app;
GRANT SELECT, INSERT ON invitations TO tenantd_app;
GRANT UPDATE (accepted_at) ON invitations TO tenantd_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON signing_keys TO tenantd_app;
GRANT INSERT ON security_events TO tenantd_app;
GRANT USAGE ON SEQUENCE security_events_id_seq TO tenantd_app;
GRANT SELECT ON security_events TO tenantd_platform;
GRANT SELECT, INSERT ON users TO tenantd_platform;

RESET ROLE;

-- +goose Down
DROP TABLE security_events, signing_keys, invitations, sessions, users CASCADE;
