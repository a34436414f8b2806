package http

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/tenantd/tenantd"
)

// Device cookies let an account's owner keep logging in while the account
// is under attack from elsewhere: the login throttle counts a known
// device's failures on their own (ratelimit.LoginThrottle). The cookie is
// signed for one tenant and email (auth.DeviceCookies), HttpOnly, sent only
// to the login route, and renewed by every successful login.

// knownDevice returns the id of the request's valid device cookie for the
// account, or "" when it has none.
func (s *Server) knownDevice(r *http.Request, tenant *tenantd.Tenant, email string) string {
	if tenant == nil {
		return ""
	}
	c, err := r.Cookie(s.devices.Name(tenant.ID, email))
	if err != nil {
		return ""
	}
	id, _ := s.devices.Verify(tenant.ID, email, c.Value, s.now())
	return id
}

// rememberDevice sets a fresh device cookie for the account that just
// logged in.
func (s *Server) rememberDevice(w http.ResponseWriter, r *http.Request, tenant uuid.UUID, email string) {
	value, expires := s.devices.Issue(tenant, email, s.now())
	http.SetCookie(w, &http.Cookie{Name: s.devices.Name(tenant, email), Value: value, Path: "/v1/auth/login",
		Expires: expires, MaxAge: int(expires.Sub(s.now()).Seconds()), HttpOnly: true,
		Secure: s.secureCookies(r), SameSite: http.SameSiteStrictMode})
}
