-- Refresh secrets rotated out of a session, by their SHA-256. Presenting
-- one of them again is reuse (the token leaked): the session is revoked and
-- the event flagged. A secret that was never the session's is a wrong
-- guess, refused without touching the session: the ids of a session are in
-- every access token, so they alone must not be enough to end it.

-- +goose Up
SET LOCAL ROLE tenantd_owner;

CREATE TABLE refresh_rotations (
    tenant_id    uuid NOT NULL,
    session_id   uuid NOT NULL,
    refresh_hash bytea NOT NULL CHECK (length(refresh_hash) = 32),
    rotated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, session_id, refresh_hash),
    FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id) ON DELETE CASCADE
);
ALTER TABLE refresh_rotations ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_rotations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refresh_rotations
    USING (tenant_id = app.current_tenant())
    WITH CHECK (tenant_id = app.current_tenant());

RESET ROLE;

GRANT SELECT, INSERT ON refresh_rotations TO tenantd_app;
GRANT SELECT, DELETE ON refresh_rotations TO tenantd_maint;

-- +goose Down
DROP TABLE refresh_rotations;
