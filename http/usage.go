package http

import (
	"encoding/csv"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// usage: GET /v1/tenant/usage. Owners and admins.
func (s *Server) usage(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := requireTenantAdmin(c.p); err != nil {
		return err
	}
	u, err := s.org.Usage(r.Context(), c.scope)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

type reviewWorkspace struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
	Role string    `json:"role"`
	Via  string    `json:"via"`
}

type reviewUser struct {
	ID         uuid.UUID         `json:"id"`
	Email      string            `json:"email"`
	Role       string            `json:"role"`
	Status     string            `json:"status"`
	Workspaces []reviewWorkspace `json:"workspaces"`
}

// accessReview: GET /v1/access-review?format=json|csv (or Accept:
// application/json or text/csv). Owners and admins.
// Every user, their tenant role and status, and each workspace they can
// reach with the role they act with and why ("membership" or
// "tenant_role"). The export is itself audited (access_review.exported).
func (s *Server) accessReview(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := requireTenantAdmin(c.p); err != nil {
		return err
	}
	q, err := query(r)
	if err != nil {
		return err
	}
	format, err := chooseFormat(r, q.Get("format"), reviewFormats)
	if err != nil {
		return err
	}
	users, err := s.org.AccessReview(r.Context(), c.scope, format)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	w.Header().Set("Vary", "Accept")
	if format == "csv" {
		writeReviewCSV(w, users, now)
		return nil
	}
	out := make([]reviewUser, 0, len(users))
	for _, ru := range users {
		u := reviewUser{ID: ru.User.ID, Email: ru.User.Email, Role: ru.User.Role, Status: ru.User.Status,
			Workspaces: make([]reviewWorkspace, 0, len(ru.Workspaces))}
		for _, ws := range ru.Workspaces {
			u.Workspaces = append(u.Workspaces, reviewWorkspace(ws))
		}
		out = append(out, u)
	}
	writeJSON(w, http.StatusOK, map[string]any{"generated_at": now.Format(time.RFC3339), "users": out})
	return nil
}

// writeReviewCSV writes one row per user and workspace they reach (one row
// with empty workspace columns for a user who reaches none). Tenants name
// their own workspaces and reviewers open the report in a spreadsheet:
// csvCell (audit.go) defuses formulas.
func writeReviewCSV(w http.ResponseWriter, users []tenantd.ReviewedUser, now time.Time) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="access-review-`+now.Format("2006-01-02")+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	cw.Write([]string{"user_id", "email", "tenant_role", "status", "workspace_id", "workspace_name", "workspace_role", "via"})
	for _, ru := range users {
		u := []string{ru.User.ID.String(), csvCell(ru.User.Email), ru.User.Role, ru.User.Status}
		if len(ru.Workspaces) == 0 {
			cw.Write(append(u, "", "", "", ""))
		}
		for _, ws := range ru.Workspaces {
			cw.Write(append(u[:4:4], ws.ID.String(), csvCell(ws.Name), ws.Role, ws.Via))
		}
	}
	cw.Flush()
}
