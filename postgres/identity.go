package postgres

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
)

const loadPrincipalSQL = `
SELECT t.slug, t.status,
       u.id IS NOT NULL, coalesce(u.role, ''), coalesce(u.status, ''),
       coalesce(s.revoked_at IS NULL AND s.expires_at > now(), false), coalesce(s.access_version, 0),
       coalesce((SELECT jsonb_object_agg(m.workspace_id, m.role) FROM workspace_members m
                  WHERE m.tenant_id = $1 AND m.user_id = $2), '{}'),
       ` + configurationColumns + `
  FROM tenants t
  JOIN plans p ON p.name = t.plan
  LEFT JOIN users u ON u.tenant_id = t.id AND u.id = $2
  LEFT JOIN sessions s ON s.tenant_id = t.id AND s.id = $3 AND s.user_id = $2
 WHERE t.id = $1`

// LoadPrincipal reads, under the token's tenant context, whether the user
// belongs to that tenant, both are active, and the session is live, with
// the user's roles, the tenant's configuration and the session's access
// version: one statement (so they agree with each other), one round trip.
// A change to any of them bumps the access version (migrations 00019 and
// 00021), so a transaction's session guard refuses a scope read before it.
func (store *Identity) LoadPrincipal(ctx context.Context, tenant, user, session uuid.UUID, req tenantd.RequestInfo) (*tenantd.PrincipalState, error) {
	st := &tenantd.PrincipalState{Principal: &tenantd.Principal{TenantID: tenant, UserID: user, SessionID: session}}
	p := st.Principal
	err := store.db.Run(ctx, tenantd.SystemScope(tenant, req), Statement{
		SQL: loadPrincipalSQL, Args: []any{tenant, user, session},
		Scan: func(rows pgx.Rows) error {
			if !rows.Next() {
				return nil
			}
			st.TenantFound = true
			var ws map[string]string
			var c configurationRow
			if err := rows.Scan(append([]any{&p.TenantSlug, &st.TenantStatus, &st.UserFound,
				&p.Role, &st.UserStatus, &st.SessionLive, &p.AccessVersion, &ws}, c.targets()...)...); err != nil {
				return err
			}
			cfg, err := c.configuration()
			if err != nil {
				return err
			}
			st.Config = &cfg
			if len(ws) > 0 {
				p.Workspaces = make(map[uuid.UUID]string, len(ws))
			}
			for k, v := range ws {
				if id, err := uuid.Parse(k); err == nil {
					p.Workspaces[id] = v
				}
			}
			return nil
		},
	})
	return st, err
}

// RecordSecurityEvent stores an event that belongs to no verified tenant
// (an unverifiable token, a login to an unknown tenant). It is anonymous
// work: it waits for the pool's anonymous share.
func (store *Identity) RecordSecurityEvent(ctx context.Context, action, reason string, req tenantd.RequestInfo) error {
	var ip any
	if req.IP != "" {
		ip = req.IP
	}
	leave, err := store.db.share.acquireAnonymous(ctx)
	if err != nil {
		return err
	}
	defer leave()
	return store.db.onPlatform(ctx, Statement{
		SQL:  `INSERT INTO security_events (action, reason, ip, user_agent, request_id) VALUES ($1, $2, $3::inet, $4, $5)`,
		Args: []any{action, clean(reason, 500), ip, clean(req.UserAgent, maxUserAgent), clean(req.ID, maxRequestID)},
	})
}

// UserForLogin finds a user by email in the tenant; nil when there is none.
// Like CreateSession and RotateRefresh, it is anonymous work (the caller
// has not proven who they are yet): it draws on the anonymous share.
func (store *Identity) UserForLogin(ctx context.Context, tenant uuid.UUID, email string, req tenantd.RequestInfo) (*tenantd.LoginUser, error) {
	var u *tenantd.LoginUser
	err := store.db.Run(ctx, tenantd.AnonymousScope(tenant, req), Statement{
		SQL:  `SELECT id, coalesce(password_hash, ''), role, status FROM users WHERE tenant_id = $1 AND email = $2`,
		Args: []any{tenant, email},
		Scan: func(rows pgx.Rows) error {
			if rows.Next() {
				u = &tenantd.LoginUser{}
				return rows.Scan(&u.ID, &u.PasswordHash, &u.Role, &u.Status)
			}
			return nil
		},
	})
	return u, err
}

// CreateSession starts a session for a user who just proved who they are,
// with its refresh token's hash, and records the login: one round trip.
func (store *Identity) CreateSession(ctx context.Context, tenant, user uuid.UUID, refreshHash []byte, expires time.Time, req tenantd.RequestInfo) (uuid.UUID, error) {
	s := tenantd.AnonymousScope(tenant, req)
	s.Actor = tenantd.Actor{Type: tenantd.ActorUser, ID: user.String()}
	id := uuid.New()
	var ip any
	if req.IP != "" {
		ip = req.IP
	}
	err := store.db.Run(ctx, s, Statement{
		SQL: `INSERT INTO sessions (tenant_id, id, user_id, refresh_hash, expires_at, ip, user_agent)
		      VALUES ($1, $2, $3, $4, $5, $6::inet, $7)`,
		Args:   []any{tenant, id, user, refreshHash, expires, ip, clean(req.UserAgent, maxUserAgent)},
		Events: []tenantd.Event{{Action: tenantd.ActionLoginSucceeded, TargetType: "session", TargetID: id.String()}},
	})
	return id, err
}

// RotateRefresh checks a presented refresh token against the session and,
// when it is the current one and the user and tenant are active, replaces
// it with newHash, keeping the old hash as rotated out. Presenting a
// rotated-out secret is a reuse: the whole session is revoked and a flagged
// event recorded. Any other secret changes nothing (Unknown): knowing the
// ids of a session, which every access token carries, must not be enough
// to end it. presented is the hash of the presented secret.
func (store *Identity) RotateRefresh(ctx context.Context, tenant, session uuid.UUID, presented []byte, newHash []byte, matches func(stored []byte) bool, req tenantd.RequestInfo) (tenantd.RefreshResult, error) {
	var res tenantd.RefreshResult
	err := store.db.InTenant(ctx, tenantd.AnonymousScope(tenant, req), func(tx *Tx) error {
		var stored []byte
		var live, userActive, tenantActive bool
		err := tx.QueryRow(ctx, `
SELECT s.user_id, s.refresh_hash, s.revoked_at IS NULL AND s.expires_at > now(),
       u.status = 'active', t.status = 'active'
  FROM sessions s
  JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
  JOIN tenants t ON t.id = s.tenant_id
 WHERE s.tenant_id = $1 AND s.id = $2 FOR UPDATE OF s`, tenant, session).
			Scan(&res.UserID, &stored, &live, &userActive, &tenantActive)
		if err == pgx.ErrNoRows {
			res.Unknown = true
			return nil
		} else if err != nil {
			return err
		}
		actor := tenantd.Actor{Type: tenantd.ActorUser, ID: res.UserID.String()}
		if !matches(stored) {
			var rotatedOut bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM refresh_rotations
			                             WHERE tenant_id = $1 AND session_id = $2 AND refresh_hash = $3)`,
				tenant, session, presented).Scan(&rotatedOut); err != nil {
				return err
			}
			if !rotatedOut {
				res.Unknown = true
				return nil
			}
			res.Reused = true
			if _, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = coalesce(revoked_at, now()), revoked_reason = 'refresh token reuse'
			                           WHERE tenant_id = $1 AND id = $2`, tenant, session); err != nil {
				return err
			}
			tx.Audit(tenantd.Event{Action: tenantd.ActionRefreshTokenReused, Actor: actor, Outcome: tenantd.OutcomeDenied,
				TargetType: "session", TargetID: session.String(), FlagReason: tenantd.FlagRefreshReuse})
			return nil
		}
		if !live || !userActive || !tenantActive {
			tx.Audit(tenantd.Event{Action: tenantd.ActionRefreshTokenDenied, Actor: actor, Outcome: tenantd.OutcomeDenied,
				TargetType: "session", TargetID: session.String()})
			return nil
		}
		if _, err := tx.Exec(ctx, `
WITH rotated AS (
    INSERT INTO refresh_rotations (tenant_id, session_id, refresh_hash) VALUES ($1, $2, $4)
    ON CONFLICT DO NOTHING)
UPDATE sessions SET refresh_hash = $3, refresh_generation = refresh_generation + 1, refreshed_at = now()
 WHERE tenant_id = $1 AND id = $2`, tenant, session, newHash, stored); err != nil {
			return err
		}
		tx.Audit(tenantd.Event{Action: tenantd.ActionRefreshTokenRotated, Actor: actor, TargetType: "session", TargetID: session.String()})
		res.OK = true
		return nil
	})
	return res, err
}

// RevokeSession ends a session (logout) and records it: one round trip.
func (store *Identity) RevokeSession(ctx context.Context, s tenantd.Scope, session uuid.UUID, reason string) error {
	return store.db.Run(ctx, s, Statement{
		SQL: `UPDATE sessions SET revoked_at = coalesce(revoked_at, now()), revoked_reason = $3
		      WHERE tenant_id = $1 AND id = $2`,
		Args:   []any{s.TenantID, session, reason},
		Events: []tenantd.Event{{Action: tenantd.ActionSessionRevoked, TargetType: "session", TargetID: session.String()}},
	})
}

// Me reads the caller and their tenant, fresh, in one round trip (the
// session guard rides along, so a revoked session gets ErrStaleScope).
func (store *Identity) Me(ctx context.Context, s tenantd.Scope) (*tenantd.User, *tenantd.Tenant, error) {
	var u tenantd.User
	var t tenantd.Tenant
	found := false
	err := store.db.Run(ctx, s, Statement{
		SQL: `SELECT u.id, u.email, u.role, t.id, t.slug, t.name
		        FROM users u JOIN tenants t ON t.id = u.tenant_id
		       WHERE u.tenant_id = $1 AND u.id = $2`,
		Args: []any{s.TenantID, s.UserID},
		Scan: func(rows pgx.Rows) error {
			if !rows.Next() {
				return nil
			}
			found = true
			return rows.Scan(&u.ID, &u.Email, &u.Role, &t.ID, &t.Slug, &t.Name)
		},
	})
	if err != nil {
		return nil, nil, err
	}
	if !found {
		return nil, nil, tenantd.Errorf(tenantd.ENOTFOUND, "Not found.")
	}
	return &u, &t, nil
}
