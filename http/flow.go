package http

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/auth"
	"github.com/tenantd/tenantd/ratelimit"
)

// The request flow (docs/architecture.md), one small named step each, in this order:
//
//	1. extractToken        Authorization: Bearer, or the console cookie
//	2. verifyToken         signature, algorithm, kid, iss, aud, exp/nbf/iat
//	3. extractTenant       tid, sub and sid from the verified claims
//	4. validateMembership  user in tenant, both active, session live
//	5. scopeFor            the tenant context the door sets with SET LOCAL
//	6. the handler         its queries run in that transaction; RLS filters
//	7. the response        built only from what step 6 returned
//
// Between 4 and 5, rejectForeignTenant refuses a request that names
// another tenant anywhere, and the tenant's rate limit is applied.

const sessionCookie = "tenantd_session"
const csrfCookie = "tenantd_csrf"
const maxTokenBytes = 4096

// requestTimeout bounds every non-streaming tenant request.
const requestTimeout = 10 * time.Second

// call is what a tenant handler gets: the verified principal and the scope
// its transactions run with.
type call struct {
	p     *tenantd.Principal
	cfg   *tenantd.Configuration // the tenant's, read with p: shared, read-only
	scope tenantd.Scope
	req   tenantd.RequestInfo
}

// authError is a failed step 1–4: 401 or 403, with what to audit.
type authError struct {
	code   string // EUNAUTHORIZED or EFORBIDDEN
	reason string // for the audit event, never sent to the client
	flag   string // non-empty flags the event
	tenant uuid.UUID
	user   uuid.UUID
}

func (e *authError) Error() string { return e.reason }

func unauthorized(reason string) *authError {
	return &authError{code: tenantd.EUNAUTHORIZED, reason: reason}
}

// 1. extractToken returns the bearer token, or the console cookie's, and
// whether it came from the cookie (which then needs CSRF protection).
func extractToken(r *http.Request) (token string, fromCookie bool, err error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return "", false, unauthorized("malformed Authorization header")
		}
		if len(tok) > maxTokenBytes {
			return "", false, unauthorized("token too large")
		}
		return strings.TrimSpace(tok), false, nil
	}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if len(c.Value) > maxTokenBytes {
			return "", false, unauthorized("token too large")
		}
		return c.Value, true, nil
	}
	return "", false, unauthorized(reasonNoToken)
}

const reasonNoToken = "no token"

// bearerChallenge is the WWW-Authenticate of a 401 (RFC 6750): without an
// error code when no token came, invalid_token when one came and was
// refused, so a client knows to refresh or log in again.
const bearerChallenge = `Bearer realm="tenantd"`

// 2. verifyToken checks the signature and claims.
func (s *Server) verifyToken(token string) (auth.Claims, error) {
	claims, err := s.verifier.Verify(token)
	if err != nil {
		return auth.Claims{}, unauthorized("token rejected: " + err.Error())
	}
	return claims, nil
}

// 3. extractTenant takes the tenant, user and session from verified claims
// only: never from the URL, the body or a header.
func extractTenant(c auth.Claims) (tenant, user, session uuid.UUID, err error) {
	user, uerr := uuid.Parse(c.Subject)
	if c.TenantID == uuid.Nil || c.SessionID == uuid.Nil || uerr != nil {
		return uuid.Nil, uuid.Nil, uuid.Nil, unauthorized("token lacks tid, sub or sid")
	}
	return c.TenantID, user, c.SessionID, nil
}

// 4. validateMembership checks that the user belongs to the tenant, that
// both are active and that the session is live, and returns the user's
// roles with the tenant's configuration. The two are cached (principalTTL)
// to save reloading them: every transaction of the request checks in its
// first round trip that none of them has changed (the session guard of
// postgres/door.go compares the session's access version, which the
// database bumps on any such change), so a revocation, a demotion, a
// membership or a configuration change wins at once on every instance; a
// stale cache entry costs one reload.
func (s *Server) validateMembership(ctx context.Context, tenant, user, session uuid.UUID, req tenantd.RequestInfo) (*tenantd.Principal, *tenantd.Configuration, error) {
	if p, cfg, ok := s.principals.get(session); ok && p.TenantID == tenant && p.UserID == user {
		return p, cfg, nil
	}
	st, err := s.identity.LoadPrincipal(ctx, tenant, user, session, req)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case !st.TenantFound:
		return nil, nil, unauthorized("tenant does not exist")
	case !st.UserFound:
		return nil, nil, &authError{code: tenantd.EFORBIDDEN, reason: "the token's user is not a user of its tenant",
			flag: tenantd.FlagTokenUserTenant, tenant: tenant, user: user}
	case st.TenantStatus != tenantd.TenantActive:
		return nil, nil, &authError{code: tenantd.EFORBIDDEN, reason: "tenant is " + st.TenantStatus, tenant: tenant, user: user}
	case st.Principal.Role == "" || st.UserStatus != tenantd.UserActive:
		return nil, nil, &authError{code: tenantd.EUNAUTHORIZED, reason: "user is " + st.UserStatus, tenant: tenant, user: user}
	case !st.SessionLive:
		return nil, nil, &authError{code: tenantd.EUNAUTHORIZED, reason: "session revoked or expired", tenant: tenant, user: user}
	}
	cfg := s.configs.intern(st.Config)
	s.principals.put(st.Principal, cfg)
	return st.Principal, cfg, nil
}

// authenticate runs steps 1–4.
func (s *Server) authenticate(r *http.Request) (*tenantd.Principal, *tenantd.Configuration, bool, error) {
	token, fromCookie, err := extractToken(r)
	if err != nil {
		return nil, nil, false, err
	}
	claims, err := s.verifyToken(token)
	if err != nil {
		return nil, nil, false, err
	}
	tenant, user, session, err := extractTenant(claims)
	if err != nil {
		return nil, nil, false, err
	}
	p, cfg, err := s.validateMembership(r.Context(), tenant, user, session, requestInfo(r))
	return p, cfg, fromCookie, err
}

// rejectForeignTenant refuses a request that names a tenant other than
// its token's in the X-Tenant-ID header, a tenant_id query parameter, a
// top-level tenant_id field of its JSON body, or a body field at one of
// the route's TenantFields.
func rejectForeignTenant(r *http.Request, tenant uuid.UUID, body []byte, fields []string) error {
	named := func(v string) bool { return v != "" && !strings.EqualFold(strings.TrimSpace(v), tenant.String()) }
	deny := &authError{code: tenantd.EFORBIDDEN, flag: tenantd.FlagTenantMismatch, tenant: tenant}
	for _, v := range r.Header.Values("X-Tenant-ID") {
		if named(v) {
			deny.reason = "X-Tenant-ID names another tenant"
			return deny
		}
	}
	q, err := query(r)
	if err != nil {
		return err
	}
	for _, v := range q["tenant_id"] {
		if named(v) {
			deny.reason = "tenant_id query parameter names another tenant"
			return deny
		}
	}
	if len(body) == 0 {
		return nil
	}
	for _, pointer := range append([]string{"/tenant_id"}, fields...) {
		raw, ok := jsonAt(body, pointer)
		if !ok {
			continue
		}
		var v string
		if json.Unmarshal(raw, &v) != nil || named(v) || v == "" {
			deny.reason = strings.ReplaceAll(strings.TrimPrefix(pointer, "/"), "/", ".") + " field names another tenant"
			return deny
		}
	}
	return nil
}

// jsonAt returns the member of a JSON document at a pointer made of object
// member names (/context/tenant_id), if the document has one there.
func jsonAt(doc []byte, pointer string) (json.RawMessage, bool) {
	raw := json.RawMessage(doc)
	for _, name := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		var members map[string]json.RawMessage
		if json.Unmarshal(raw, &members) != nil {
			return nil, false
		}
		if raw = members[name]; raw == nil {
			return nil, false
		}
	}
	return raw, true
}

// rateLimit applies the tenant's API rate limit (its plan's, or an
// operator's override: the api_rate_limit feature), shared by every
// instance through Redis. The limit is the cached configuration's: an
// operator's change makes the request's transaction refuse the cached
// copy, and serveTenant applies the new limit before running it again.
func (s *Server) rateLimit(w http.ResponseWriter, r *http.Request, p *tenantd.Principal, cfg *tenantd.Configuration) error {
	if s.limiter == nil {
		return nil
	}
	rl := cfg.RateLimit()
	if rl.Rate <= 0 {
		return nil
	}
	pol := ratelimit.Policy{Rate: rl.Rate, Period: rl.Period, Burst: rl.Burst}
	d, err := s.limiter.AllowOrLocal(r.Context(), "tenant:"+p.TenantID.String(), pol)
	if err != nil {
		logger(r.Context()).Warn("rate limiter", "err", err)
		return nil
	}
	d.Headers(pol, w.Header())
	if !d.Allowed {
		return &tenantd.Error{Code: tenantd.ERATELIMIT, Message: "The tenant's API rate limit is exceeded.", RetryAfter: d.RetryAfter}
	}
	return nil
}

// checkCSRF protects cookie-authenticated writes: the X-CSRF-Token header
// must carry the CSRF token of the request's session (the csrf cookie set
// at login holds it for the console's script). A token is bound to its
// session (auth.CSRFTokens), so a cookie and header that merely match each
// other, taken from another session or made up, are refused.
func checkCSRF(tokens *auth.CSRFTokens, r *http.Request, session uuid.UUID) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if !tokens.Check(session, r.Header.Get("X-CSRF-Token")) {
		return &authError{code: tenantd.EFORBIDDEN, reason: "missing or wrong CSRF token"}
	}
	return nil
}

// 5. scopeFor is the tenant context of the request's transactions.
func scopeFor(p *tenantd.Principal, req tenantd.RequestInfo) tenantd.Scope {
	return tenantd.ScopeFor(p, req)
}

// serveTenant runs the whole flow for a tenant route.
func (s *Server) serveTenant(w http.ResponseWriter, r *http.Request, rt Route) {
	// No request waits on the database longer than this: a database that
	// is down answers 503 with Retry-After, never a hang.
	if !rt.Streaming {
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
	}
	req := requestInfo(r)
	p, cfg, fromCookie, err := s.authenticate(r)
	if err != nil {
		s.reject(w, r, nil, err)
		return
	}
	stateOf(r.Context()).tenantID = p.TenantID.String()
	c := &call{p: p, cfg: cfg, scope: scopeFor(p, req), req: req}
	// The tenant's rate limit comes before any other work, the work of
	// refusing included: a flood of requests that will be refused is
	// throttled like any other.
	if err := s.rateLimit(w, r, p, cfg); err != nil {
		s.fail(w, r, c, err)
		return
	}
	if rt.Heavy {
		leave, err := s.heavy.enter(p.TenantID)
		if err != nil {
			s.fail(w, r, c, err)
			return
		}
		defer leave()
	}
	// The whole request is read before anything looks at it: a query that
	// does not parse or a body too large is an invalid request (audited
	// like any other), never a request with parts missing.
	body, err := readBody(r, maxBodyBytes) // read once: checked here, handed to the handler (again on a retry)
	if err == nil {
		_, err = query(r)
	}
	if err == nil {
		err = rejectForeignTenant(r, p.TenantID, body, rt.TenantFields)
	}
	if err == nil && fromCookie {
		err = checkCSRF(s.csrf, r, p.SessionID)
	}
	var ae *authError
	switch {
	case errors.As(err, &ae):
		s.reject(w, r, p, err)
		return
	case err != nil:
		s.fail(w, r, c, err)
		return
	}
	err = s.runHandler(w, r, rt, c, body)
	if errors.Is(err, tenantd.ErrStaleScope) && !written(w) {
		// The database says what we cached is stale (the session was
		// revoked, the user demoted, a membership or the tenant's
		// configuration changed): nothing ran. Decide again from the
		// database, with the new rate limit if it changed, and run the
		// handler once more.
		p, cfg, err = s.reloadPrincipal(r.Context(), p, req)
		if err != nil {
			s.reject(w, r, nil, err)
			return
		}
		prev := c.cfg
		c = &call{p: p, cfg: cfg, scope: scopeFor(p, req), req: req}
		if cfg.RateLimit() != prev.RateLimit() {
			err = s.rateLimit(w, r, p, cfg)
		}
		if err == nil {
			err = s.runHandler(w, r, rt, c, body)
		}
	}
	if code := tenantd.ErrorCode(err); !written(w) && (code == tenantd.EFORBIDDEN ||
		code == tenantd.ENOTFOUND && p.Role == tenantd.RoleMember) {
		// Refused on what we cached: a promotion or a new membership may
		// not be in the cache yet. Check once more against the database.
		fresh, freshCfg, ferr := s.reloadPrincipal(r.Context(), p, req)
		var ae *authError
		switch {
		case errors.As(ferr, &ae):
			s.reject(w, r, nil, ferr) // revoked meanwhile: 401/403 as step 4 says
			return
		case ferr == nil && !sameAccess(p, fresh):
			p, c = fresh, &call{p: fresh, cfg: freshCfg, scope: scopeFor(fresh, req), req: req}
			err = s.runHandler(w, r, rt, c, body)
		}
	}
	if errors.Is(err, tenantd.ErrStaleScope) {
		err = &tenantd.Error{Code: tenantd.EUNAVAILABLE, Message: "The caller's access changed during the request; retry.", RetryAfter: time.Second}
	}
	if err != nil {
		s.fail(w, r, c, err)
	}
}

// reloadPrincipal validates the principal's session again from the
// database, bypassing the cache.
func (s *Server) reloadPrincipal(ctx context.Context, p *tenantd.Principal, req tenantd.RequestInfo) (*tenantd.Principal, *tenantd.Configuration, error) {
	s.principals.drop(p.SessionID)
	return s.validateMembership(ctx, p.TenantID, p.UserID, p.SessionID, req)
}

// sameAccess reports whether two principals have the same roles.
func sameAccess(a, b *tenantd.Principal) bool {
	return a.Role == b.Role && maps.Equal(a.Workspaces, b.Workspaces)
}

// runHandler runs a tenant handler on a fresh copy of the buffered body.
// A beta route answers a tenant without its feature as if it did not exist
// (from the cached configuration: if it is stale, the handler's first
// transaction is refused and serveTenant runs this again with a fresh one).
func (s *Server) runHandler(w http.ResponseWriter, r *http.Request, rt Route, c *call, body []byte) error {
	if rt.Beta != "" && !c.cfg.HasBeta(rt.Beta) {
		return errNoRoute()
	}
	if err := checkParams(r, rt); err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return rt.tenant(w, r, c)
}

// written reports whether a response has started.
func written(w http.ResponseWriter) bool {
	if rec, ok := w.(*statusRecorder); ok {
		return rec.wrote
	}
	return true
}

// reject answers a failed step 1–4 (or a foreign tenant, or CSRF) and
// records it: in the tenant's audit log when the tenant is known from a
// verified token, else as a platform security event. Refusals have a budget
// of their own (per tenant, or per client when no tenant is verified), and
// a refusal repeated within a window is counted, not recorded again.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, p *tenantd.Principal, err error) {
	var ae *authError
	if !errors.As(err, &ae) {
		writeError(w, r, err)
		return
	}
	ctx := context.WithoutCancel(r.Context())
	req := requestInfo(r)
	tenant, user := ae.tenant, ae.user
	if p != nil {
		tenant, user = p.TenantID, p.UserID
	}
	throttled := s.refusalBudget(r.Context(), w, tenant, req)
	if tenant != uuid.Nil {
		actor := tenantd.Actor{Type: tenantd.ActorUser, ID: user.String()}
		s.recordRefusal(ctx, tenantd.AnonymousScope(tenant, req), tenantd.Event{
			Action: tenantd.ActionRequestDenied, Actor: actor, Outcome: tenantd.OutcomeDenied, FlagReason: ae.flag,
			TargetType: "route", TargetID: r.Method + " " + r.URL.Path,
			Changes: map[string]any{"reason": ae.reason, "status": problemTypes[ae.code].status},
		}, ae.reason, stateOf(r.Context()).route)
	} else {
		s.recordSecurityRefusal(ctx, tenantd.ActionRequestDenied, ae.reason, req)
	}
	if throttled != nil {
		writeError(w, r, throttled)
		return
	}
	var msg string
	if ae.code == tenantd.EUNAUTHORIZED {
		challenge := bearerChallenge
		if ae.reason != reasonNoToken {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		msg = "Authentication is required: the token is missing, invalid, expired or revoked."
	} else {
		msg = "This request is not allowed for this token."
	}
	writeError(w, r, tenantd.Errorf(ae.code, "%s", msg))
}

// defaultRefusalLimit is the budget of refused requests: per tenant when a
// verified token names it, else per client.
var defaultRefusalLimit = ratelimit.Policy{Rate: 60, Period: time.Minute, Burst: 60}

// refusalBudget takes one refusal from the budget of the tenant (when
// verified) or of the client, and returns the 429 to answer instead when it
// is spent.
func (s *Server) refusalBudget(ctx context.Context, w http.ResponseWriter, tenant uuid.UUID, req tenantd.RequestInfo) error {
	key := "refused:client:" + ratelimit.ClientKey(req.IP)
	if tenant != uuid.Nil {
		key = "refused:tenant:" + tenant.String()
	}
	d, err := s.limiter.AllowOrLocal(ctx, key, s.cfg.RefusalLimit)
	if err != nil || d.Allowed {
		return nil
	}
	d.Headers(s.cfg.RefusalLimit, w.Header())
	return &tenantd.Error{Code: tenantd.ERATELIMIT, Message: "Too many refused requests; try again later.", RetryAfter: d.RetryAfter}
}

// record stores an event in its own transaction, counting and logging
// flagged ones. Recording failures are logged, never hidden.
func (s *Server) record(ctx context.Context, scope tenantd.Scope, e tenantd.Event) {
	if reason := cmp.Or(e.FlagReason, e.PlatformFlag); reason != "" {
		s.metrics.flagged.WithLabelValues(reason).Inc()
		logger(ctx).Warn("flagged event", "action", e.Action, "reason", reason,
			"tenant_id", scope.TenantID, "target", e.TargetType+":"+e.TargetID)
	}
	scope.SessionID = uuid.Nil // a denied request's event is recorded even if its session just ended
	if err := s.audit.Record(ctx, scope, e); err != nil {
		logger(ctx).Error("record audit event", "err", err, "action", e.Action)
	}
}

// fail answers a handler's error and audits it: denied (403), invalid
// (400, 413, 422), limit (409), rate-limited (429) requests and a 404 for
// an id the caller named get an event in their own transaction; the 404's
// is flagged for the platform when the id belongs to another tenant.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, c *call, err error) {
	ctx := context.WithoutCancel(r.Context())
	code := tenantd.ErrorCode(err)
	var probe *foreignProbe
	e := tenantd.Event{TargetType: "route", TargetID: r.Method + " " + r.URL.Path}
	var fl *flagged
	if errors.As(err, &fl) {
		e.FlagReason = fl.reason
	}
	switch {
	case errors.As(err, &probe):
		// The caller's admins read this event: it is the same whether the id
		// is unknown or another tenant's. Only the platform's security view
		// learns which (a platform flag).
		e.Action, e.Outcome = tenantd.ActionRequestDenied, tenantd.OutcomeDenied
		e.TargetType, e.TargetID = probe.kind, probe.id.String()
		other, perr := s.platform.IDInOtherTenant(ctx, c.scope, probe.kind, probe.id)
		if perr != nil {
			logger(ctx).Error("foreign id lookup", "err", perr)
		}
		if other {
			e.PlatformFlag = tenantd.FlagForeignID
		}
	case code == tenantd.EFORBIDDEN:
		e.Action, e.Outcome = tenantd.ActionRequestDenied, tenantd.OutcomeDenied
	case code == tenantd.EINVALID || code == tenantd.EBADREQUEST || code == tenantd.ETOOLARGE:
		e.Action, e.Outcome = tenantd.ActionRequestRejected, tenantd.OutcomeFailed
	case code == tenantd.ELIMIT:
		e.Action, e.Outcome = tenantd.ActionLimitExceeded, tenantd.OutcomeDenied
		e.Changes = map[string]any{"limit": limitOf(err)}
	case code == tenantd.ERATELIMIT:
		e.Action, e.Outcome = tenantd.ActionRateLimitExceeded, tenantd.OutcomeDenied
	}
	if e.Action != "" && c != nil && code != tenantd.EUNAVAILABLE {
		if e.Changes == nil {
			e.Changes = map[string]any{"error": tenantd.ErrorMessage(err)}
		}
		e.Changes["status"] = StatusOf(err) // one action for several statuses (request.denied)
		if code == tenantd.ERATELIMIT {
			s.recordRefusal(ctx, c.scope, e, "rate limit", stateOf(r.Context()).route)
		} else {
			s.record(ctx, c.scope, e)
		}
	}
	writeError(w, r, err)
}

// flagged is a handler's refusal that the flow records flagged: a
// suspected attempt to reach beyond the caller's rights (a tenant changing
// its own limits).
type flagged struct {
	error
	reason string // a tenantd.Flag… reason
}

func (f *flagged) Unwrap() error { return f.error }

func limitOf(err error) string {
	if e, ok := tenantd.AsError(err); ok {
		return e.Limit
	}
	return ""
}

// foreignProbe is a not-found answer for an id the caller named: the flow
// records it, and flags it for the platform when the id belongs to another
// tenant.
type foreignProbe struct {
	kind string
	id   uuid.UUID
}

func (f *foreignProbe) Error() string { return "not found" }
func (f *foreignProbe) Unwrap() error { return tenantd.Errorf(tenantd.ENOTFOUND, "Not found.") }

// notFound answers 404 for an id of kind; it is indistinguishable from a
// missing id to the client.
func notFound(kind string, id uuid.UUID) error { return &foreignProbe{kind: kind, id: id} }

// pathID parses the path parameter name as a UUID. A malformed id is simply
// not found.
func pathID(r *http.Request, name, kind string) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue(name))
	if err != nil {
		return uuid.Nil, tenantd.Errorf(tenantd.ENOTFOUND, "Not found.")
	}
	return id, nil
}
