package http

import (
	"time"
)

// readiness is the answer of GET /readyz once the database answers and the
// keys are loaded.
type readiness struct {
	Status string `json:"status"`
	// SecurityChecks are the latest outcomes of the regular security checks
	// (package securitycheck), by check. A failed check does not make the
	// instance unready: every instance shares the database, so that would
	// take the whole service down; it is for monitoring, and its problems
	// are in the log and the platform's security view, not here.
	SecurityChecks map[string]checkReadiness `json:"security_checks,omitempty"`
}

type checkReadiness struct {
	Status  string     `json:"status"`   // pending, ok, failed, error
	LastRun *time.Time `json:"last_run"` // null while pending
}

func (s *Server) readiness() readiness {
	r := readiness{Status: "ready"}
	if s.checks == nil {
		return r
	}
	r.SecurityChecks = map[string]checkReadiness{}
	for _, st := range s.checks.Statuses() {
		c := checkReadiness{Status: st.State}
		if !st.LastRun.IsZero() {
			t := st.LastRun.UTC()
			c.LastRun = &t
		}
		r.SecurityChecks[st.Check] = c
	}
	return r
}
