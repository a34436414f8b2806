package http

import (
	"net/http"
)

// Device cookies let an account's owner keep logging in while the account
// is under attack from elsewhere: the login throttle counts a known
// device's failures on their own (ratelimit.LoginThrottle). The cookie is
// signed for one tenant slug and email (auth.DeviceCookies), HttpOnly, sent
// only to the login route, and renewed by every successful login.

// knownDevice returns the id of the request's valid device cookie for the
// account, or "" when it has none.
func (s *Server) knownDevice(r *http.Request, slug, email string) string {
	c, err := r.Cookie(s.devices.Name(slug, email))
	if err != nil {
		return ""
	}
	id, _ := s.devices.Verify(slug, email, c.Value, s.now())
	return id
}

// rememberDevice sets a fresh device cookie for the account that just
// logged in.
func (s *Server) rememberDevice(w http.ResponseWriter, r *http.Request, slug, email string) {
	value, expires := s.devices.Issue(slug, email, s.now())
	http.SetCookie(w, &http.Cookie{Name: s.devices.Name(slug, email), Value: value, Path: "/v1/auth/login",
		Expires: expires, MaxAge: int(expires.Sub(s.now()).Seconds()), HttpOnly: true,
		Secure: s.secureCookies(r), SameSite: http.SameSiteStrictMode})
}
