package http

import (
	"context"
	"net/http"
	"time"

	"github.com/tenantd/tenantd"
)

// The operations endpoints: health, readiness and the public keys that
// verify tokens. Public, in the route table like every route.

// jwks: GET /.well-known/jwks.json.
func (s *Server) jwks(w http.ResponseWriter, r *http.Request) error {
	ks := s.keys()
	if ks == nil {
		return &tenantd.Error{Code: tenantd.EUNAVAILABLE, Message: "Keys are not loaded yet.", RetryAfter: time.Second}
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Write(ks.JWKS())
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.health.Ping(ctx); err != nil {
		return &tenantd.Error{Code: tenantd.EUNAVAILABLE, Message: "Not ready.", RetryAfter: 2 * time.Second, Cause: err}
	}
	if s.keys() == nil {
		return &tenantd.Error{Code: tenantd.EUNAVAILABLE, Message: "Keys are not loaded yet.", RetryAfter: time.Second}
	}
	writeJSON(w, http.StatusOK, s.readiness())
	return nil
}
