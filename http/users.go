package http

// organisationRoutes are the users, workspaces and roles routes (SPEC §6, §8).
func (s *Server) organisationRoutes() []Route {
	return []Route{}
}
