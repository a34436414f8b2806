package http

import (
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/tenantd/tenantd"
)

// Token introspection (RFC 7662): POST /v1/auth/introspect, for services
// that must see a revocation, which verifying a JWT locally cannot. The
// caller authenticates with its own token of a tenant and learns about
// tokens of that tenant only: a token of another tenant answers
// {"active": false}, like an unknown one, and the attempt is flagged.
//
// A token is active when its signature and claims verify and, read from the
// database at this moment (no cache), its session is live and its user and
// tenant are active.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request, c *call) error {
	form, err := introspectionForm(r)
	if err != nil {
		return err
	}
	inactive := map[string]any{"active": false}
	token := form.Get("token")
	claims, err := s.verifier.Verify(token)
	if err != nil {
		writeJSON(w, http.StatusOK, inactive)
		return nil
	}
	tenant, user, session, err := extractTenant(claims)
	if err != nil {
		writeJSON(w, http.StatusOK, inactive)
		return nil
	}
	if tenant != c.p.TenantID {
		s.record(r.Context(), c.scope, tenantd.Event{
			Action: tenantd.ActionIntrospectionDenied, TargetType: "token", TargetID: "",
			Outcome: tenantd.OutcomeDenied, FlagReason: tenantd.FlagTenantMismatch,
		})
		writeJSON(w, http.StatusOK, inactive)
		return nil
	}
	st, err := s.identity.LoadPrincipal(r.Context(), tenant, user, session, c.req)
	if err != nil {
		return err
	}
	if !st.TenantFound || !st.UserFound || !st.SessionLive ||
		st.TenantStatus != tenantd.TenantActive || st.UserStatus != tenantd.UserActive {
		writeJSON(w, http.StatusOK, inactive)
		return nil
	}
	out := map[string]any{
		"active":     true,
		"token_type": "Bearer",
		"iss":        claims.Issuer,
		"sub":        claims.Subject,
		"aud":        []string(claims.Audience),
		"tid":        claims.TenantID,
		"sid":        claims.SessionID,
		"jti":        claims.ID,
		"role":       st.Principal.Role,
	}
	if claims.ExpiresAt != nil {
		out["exp"] = claims.ExpiresAt.Unix()
	}
	if claims.IssuedAt != nil {
		out["iat"] = claims.IssuedAt.Unix()
	}
	if claims.NotBefore != nil {
		out["nbf"] = claims.NotBefore.Unix()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// introspectionForm parses the RFC 7662 request: a form with a token
// parameter (token_type_hint is accepted and ignored: there is one kind).
func introspectionForm(r *http.Request) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, &tenantd.Error{Code: tenantd.EUNSUPPORTED,
			Message: "The request body must be application/x-www-form-urlencoded (RFC 7662)."}
	}
	body, err := readBody(r, maxTokenBytes*2)
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, tenantd.Errorf(tenantd.EBADREQUEST, "The request body is not a valid form.")
	}
	token := form.Get("token")
	switch {
	case strings.TrimSpace(token) == "":
		return nil, &tenantd.Error{Code: tenantd.EINVALID, Message: "The token parameter is required.",
			Fields: []tenantd.FieldError{{Pointer: "/token", Detail: "required"}}}
	case len(token) > maxTokenBytes:
		return nil, &tenantd.Error{Code: tenantd.EINVALID, Message: "The token is too large.",
			Fields: []tenantd.FieldError{{Pointer: "/token", Detail: "at most 4096 bytes"}}}
	}
	return form, nil
}
