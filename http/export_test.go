package http

import "net/http"

// TrivialTenantHandler is the whole request flow (base middleware and the
// seven steps) in front of a handler that does nothing, for benchmarks.
func (s *Server) TrivialTenantHandler() http.Handler {
	return s.base(s.wrap(Route{Method: "GET", Pattern: "/bench", Access: Tenant,
		tenant: func(w http.ResponseWriter, r *http.Request, c *call) error {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}}))
}

// FlushRepeats writes the events of the refusals being counted now, as the
// end of their window would.
func (s *Server) FlushRepeats() { s.repeats.flush() }
