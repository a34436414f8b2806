package http

// auditRoutes are the audit log's routes (SPEC §4).
func (s *Server) auditRoutes() []Route {
	return []Route{}
}
