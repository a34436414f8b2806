package http

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/auth"
	"github.com/tenantd/tenantd/ratelimit"
)

// Every login failure, whatever its cause, gets this same answer.
var errLoginFailed = tenantd.Errorf(tenantd.EUNAUTHORIZED, "Invalid tenant, email or password.")

type loginRequest struct {
	Tenant   string `json:"tenant"`
	Email    string `json:"email"`
	Password string `json:"password"`
	// SessionCookie asks for the console's HttpOnly session cookie too.
	SessionCookie bool `json:"session_cookie,omitempty"`
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// login: POST /v1/auth/login. The tenant is named by slug; the same email
// in another tenant is another account. Unknown tenant, unknown email,
// wrong password, disabled user and suspended tenant all answer the same
// 401 after the same password-hashing work.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var in loginRequest
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	req := requestInfo(r)
	email := strings.ToLower(strings.TrimSpace(in.Email))
	slug := strings.ToLower(strings.TrimSpace(in.Tenant))
	if len(in.Password) > 1024 || len(email) > 254 || len(slug) > 63 {
		return tenantd.Errorf(tenantd.EBADREQUEST, "A field is too long.")
	}
	if in.SessionCookie {
		if _, _, _, err := s.authenticate(r); err == nil {
			return tenantd.Errorf(tenantd.ECONFLICT, "A session is already active: log out before logging in to another account.")
		}
	}

	// The throttle decides before anything touches the database: a
	// refused attempt costs one Redis round trip.
	attempt := ratelimit.LoginAttempt{Account: slug + "\x00" + email, Client: req.IP, Device: s.knownDevice(r, slug, email)}
	decision, err := s.throttle.Attempt(ctx, attempt)
	if err != nil {
		// Without Redis there is no shared count: refuse rather than allow
		// unlimited guessing.
		return &tenantd.Error{Code: tenantd.EUNAVAILABLE, Message: "Login is temporarily unavailable.", RetryAfter: 5 * time.Second, Cause: err}
	}
	if !decision.Allowed {
		s.loginThrottled(ctx, slug, email, req)
		return &tenantd.Error{Code: tenantd.ERATELIMIT, Message: "Too many failed logins; try again later.", RetryAfter: decision.RetryAfter}
	}
	tenant, err := s.platform.TenantBySlug(ctx, slug)
	if err != nil && tenantd.ErrorCode(err) != tenantd.ENOTFOUND {
		return err
	}

	var user *tenantd.LoginUser
	if tenant != nil {
		if user, err = s.identity.UserForLogin(ctx, tenant.ID, email, req); err != nil {
			return err
		}
	}
	ok := false
	if user == nil || user.PasswordHash == "" {
		auth.DummyCheck(in.Password)
	} else if ok, err = auth.CheckPassword(user.PasswordHash, in.Password); err != nil {
		return err
	}
	reason := ""
	switch {
	case tenant == nil:
		reason = "unknown tenant"
	case user == nil:
		reason = "unknown email"
	case user.PasswordHash == "":
		reason = "invitation not accepted"
	case !ok:
		reason = "wrong password"
	case tenant.Status != tenantd.TenantActive:
		reason = "tenant " + tenant.Status
	case user.Status != tenantd.UserActive:
		reason = "user " + user.Status
	}
	if reason != "" {
		s.loginFailed(ctx, tenant, email, req, reason, decision.Failures)
		return errLoginFailed
	}
	if err := s.throttle.Success(ctx, attempt); err != nil {
		logger(ctx).Warn("login throttle: success not recorded", "err", err)
	}

	refresh := auth.NewSecret()
	sid, err := s.identity.CreateSession(ctx, tenant.ID, user.ID, auth.HashSecret(refresh), s.now().Add(s.cfg.RefreshTTL), req)
	if err != nil {
		return err
	}
	s.rememberDevice(w, r, slug, email)
	return s.issueTokens(w, r, tenant.ID, user.ID, sid, refresh, in.SessionCookie)
}

// loginFailed records a failed login: in the tenant's log when the tenant
// exists (tenant non-nil), else as a platform security event. failures is
// the client's attempts on the account in a row; from the fifth on, it is
// an attack pattern, not a typo, and is flagged.
func (s *Server) loginFailed(ctx context.Context, tenant *tenantd.Tenant, email string, req tenantd.RequestInfo, reason string, failures int) {
	ctx = context.WithoutCancel(ctx)
	if tenant == nil {
		if err := s.identity.RecordSecurityEvent(ctx, tenantd.ActionLoginFailed, reason, req); err != nil {
			logger(ctx).Error("record security event", "err", err)
		}
		return
	}
	e := tenantd.Event{Action: tenantd.ActionLoginFailed, Actor: tenantd.Actor{Type: tenantd.ActorAnonymous},
		Outcome: tenantd.OutcomeFailed, TargetType: "user", TargetID: email,
		Changes: map[string]any{"reason": reason, "failures": failures}}
	if failures >= loginFailuresFlagged {
		e.FlagReason = tenantd.FlagLoginFailures
	}
	s.record(ctx, tenantd.AnonymousScope(tenant.ID, req), e)
}

// loginThrottled records a throttled login attempt, flagged: the first of
// a window at once, the ones after it counted into one event (repeats).
// Only the first looks the tenant up.
func (s *Server) loginThrottled(ctx context.Context, slug, email string, req tenantd.RequestInfo) {
	ctx = context.WithoutCancel(ctx)
	e := tenantd.Event{Action: tenantd.ActionLoginFailed, Actor: tenantd.Actor{Type: tenantd.ActorAnonymous},
		Outcome: tenantd.OutcomeFailed, TargetType: "user", TargetID: email, FlagReason: tenantd.FlagLoginFailures,
		Changes: map[string]any{"reason": "throttled", "failures": 0}}
	k := repeatKind{action: e.Action, flag: e.FlagReason, reason: "throttled", what: "login\x00" + slug + "\x00" + email}
	if s.repeats.seen(k, e, req) {
		s.metrics.flagged.WithLabelValues(e.FlagReason).Inc()
		return
	}
	tenant, err := s.platform.TenantBySlug(ctx, slug)
	if err != nil {
		s.recordSecurityRefusal(ctx, e.Action, "throttled", req)
		return
	}
	s.repeats.attribute(k, tenant.ID)
	s.record(ctx, tenantd.AnonymousScope(tenant.ID, req), e)
}

// loginFailuresFlagged is the attempt, in a row from one client on one
// account, from which failures are flagged.
const loginFailuresFlagged = 5

// issueTokens answers with a new access token and refresh token, and the
// console cookies when asked for.
func (s *Server) issueTokens(w http.ResponseWriter, r *http.Request, tenant, user, session uuid.UUID, refresh string, cookie bool) error {
	access, claims, err := s.issuer.Issue(user, tenant, session)
	if err != nil {
		return err
	}
	expires := int(time.Until(claims.ExpiresAt.Time).Seconds())
	if cookie {
		secure := s.secureCookies(r)
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: access, Path: "/", HttpOnly: true,
			Secure: secure, SameSite: http.SameSiteLaxMode, MaxAge: expires})
		// Readable by the console's script, which echoes it in X-CSRF-Token.
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: s.csrf.Token(session), Path: "/",
			Secure: secure, SameSite: http.SameSiteLaxMode, MaxAge: expires})
	}
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: access, TokenType: "Bearer",
		ExpiresIn: expires, RefreshToken: refreshToken(tenant, session, refresh)})
	return nil
}

// secureCookies reports whether cookies set in answer to r get the Secure
// attribute: always with Config.SecureCookies; when the request came over
// TLS, to us or, as a trusted proxy says in X-Forwarded-Proto, to the
// proxy; else unless it came from a loopback address (plain HTTP on a
// developer's machine, where a Secure cookie would never come back).
func (s *Server) secureCookies(r *http.Request) bool {
	switch {
	case s.cfg.SecureCookies || r.TLS != nil:
		return true
	case fromTrustedProxy(r, s.cfg.TrustedProxies) && forwardedProto(r) == "https":
		return true
	}
	return !isLoopback(r)
}

// forwardedProto is the scheme the nearest proxy reports in
// X-Forwarded-Proto (the last value, the one it set or appended),
// lowercased. Only meaningful from a trusted proxy.
func forwardedProto(r *http.Request) string {
	v := strings.Join(r.Header.Values("X-Forwarded-Proto"), ",")
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

func isLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Opaque tokens (refresh tokens, invitations) name their tenant and the
// row they belong to, so they can be checked under that tenant's context;
// only the secret proves anything, and only its hash is stored.
func scopedToken(kind string, tenant, id uuid.UUID, secret string) string {
	return kind + "." + tenant.String() + "." + id.String() + "." + secret
}

func parseScopedToken(kind, tok string) (tenant, id uuid.UUID, secret string, ok bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 4 || parts[0] != kind || len(tok) > 256 {
		return uuid.Nil, uuid.Nil, "", false
	}
	t, err1 := uuid.Parse(parts[1])
	i, err2 := uuid.Parse(parts[2])
	if err1 != nil || err2 != nil || parts[3] == "" {
		return uuid.Nil, uuid.Nil, "", false
	}
	return t, i, parts[3], true
}

func refreshToken(tenant, session uuid.UUID, secret string) string {
	return scopedToken("rt1", tenant, session, secret)
}

func parseRefreshToken(tok string) (tenant, session uuid.UUID, secret string, ok bool) {
	return parseScopedToken("rt1", tok)
}

// refresh: POST /v1/auth/refresh rotates the refresh token. Presenting a
// token that was already rotated away revokes the whole session and is
// flagged.
func (s *Server) refresh(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	req := requestInfo(r)
	invalid := tenantd.Errorf(tenantd.EUNAUTHORIZED, "The refresh token is invalid, expired or revoked.")
	tenant, session, secret, ok := parseRefreshToken(in.RefreshToken)
	if !ok {
		s.recordSecurityEvent(ctx, tenantd.ActionRefreshTokenDenied, "malformed refresh token", req)
		return invalid
	}
	next := auth.NewSecret()
	res, err := s.identity.RotateRefresh(ctx, tenant, session, auth.HashSecret(secret), auth.HashSecret(next),
		func(stored []byte) bool { return auth.CheckSecret(secret, stored) }, req)
	if err != nil {
		if tenantd.ErrorCode(err) == tenantd.EINTERNAL {
			return err
		}
		return invalid
	}
	if res.Reused {
		s.metrics.flagged.WithLabelValues(tenantd.FlagRefreshReuse).Inc()
		logger(ctx).Warn("flagged event", "action", tenantd.ActionRefreshTokenReused, "tenant_id", tenant)
		s.principals.drop(session)
	}
	if res.Unknown {
		// Not the tenant's event: anyone can name any session.
		s.recordSecurityEvent(ctx, tenantd.ActionRefreshTokenDenied, "unknown session or refresh secret", req)
	}
	if !res.OK {
		return invalid
	}
	return s.issueTokens(w, r, tenant, res.UserID, session, next, false)
}

// logout: POST /v1/auth/logout revokes the session at once; its access
// token is refused from then on, on every instance (the session guard in
// every transaction sees the revocation at once).
func (s *Server) logout(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.identity.RevokeSession(r.Context(), c.scope, c.p.SessionID, "logout"); err != nil {
		return err
	}
	s.principals.drop(c.p.SessionID)
	for _, name := range []string{sessionCookie, csrfCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
			Secure: s.secureCookies(r), SameSite: http.SameSiteLaxMode})
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// me: GET /v1/me.
func (s *Server) me(w http.ResponseWriter, r *http.Request, c *call) error {
	type user struct {
		ID    uuid.UUID `json:"id"`
		Email string    `json:"email"`
		Role  string    `json:"role"`
	}
	type tenant struct {
		ID   uuid.UUID `json:"id"`
		Slug string    `json:"slug"`
		Name string    `json:"name"`
	}
	u, t, err := s.identity.Me(r.Context(), c.scope)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"user":   user{u.ID, u.Email, u.Role},
		"tenant": tenant{t.ID, t.Slug, t.Name},
	})
	return nil
}
