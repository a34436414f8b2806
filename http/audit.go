package http

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tenantd/tenantd"
)

// auditRoutes are the audit log's routes. The queries are in
// postgres/audit.go and postgres/securityview.go; reading and exporting are
// themselves audited there, in the same transaction as the read.
func (s *Server) auditRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/v1/audit-events", Access: Tenant, Query: listParams,
			Summary: "Query the tenant's audit log", tenant: s.listAuditEvents},
		{Method: "GET", Pattern: "/v1/audit-events/export", Access: Tenant, Streaming: true, Heavy: true, Query: exportParams,
			Summary: "Export the tenant's audit log as JSON Lines or CSV", tenant: s.exportAuditEvents},
		{Method: "GET", Pattern: "/v1/audit-actions", Access: Tenant,
			Summary: "The catalogue of audit actions", tenant: s.listAuditActions},
		{Method: "GET", Pattern: "/v1/admin/security-events", Access: Operator, Query: []string{"limit", "flagged_cursor", "unattributed_cursor"},
			Summary: "Flagged events of every tenant and unattributed security events", operator: s.securityEvents},
	}
}

// Query parameters of the audit routes (Route.Query).
var (
	filterParams = []string{"action", "actor", "target_type", "target_id", "flagged", "since", "until"}
	listParams   = append(append([]string{}, pageParams...), filterParams...)
	exportParams = append([]string{"format"}, filterParams...)
)

func mayReadAuditLog(c *call) error {
	if !c.p.IsTenantAdmin() {
		return tenantd.Errorf(tenantd.EFORBIDDEN, "Only the tenant's owners and admins may read its audit log.")
	}
	return nil
}

// listAuditEvents: GET /v1/audit-events, newest first.
func (s *Server) listAuditEvents(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := mayReadAuditLog(c); err != nil {
		return err
	}
	q, err := params(r)
	if err != nil {
		return err
	}
	f, err := auditFilter(q)
	if err != nil {
		return err
	}
	if f.Limit, err = auditLimit(q); err != nil {
		return err
	}
	f.Cursor = q["cursor"]
	items, next, err := s.audit.List(r.Context(), c.scope, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pageOf(items, next))
	return nil
}

// listAuditActions: GET /v1/audit-actions, the catalogue of actions an
// audit event may carry (tenantd.Actions), for any user of the tenant: it
// holds no tenant data. One page, in the list envelope.
func (s *Server) listAuditActions(w http.ResponseWriter, r *http.Request, c *call) error {
	writeJSON(w, http.StatusOK, pageOf(tenantd.Actions, ""))
	return nil
}

// exportAuditEvents: GET /v1/audit-events/export?format=jsonl|csv (or
// Accept: application/jsonl, application/x-ndjson or text/csv) streams
// every matching event, oldest first, as it is read from the database.
func (s *Server) exportAuditEvents(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := mayReadAuditLog(c); err != nil {
		return err
	}
	q, err := params(r)
	if err != nil {
		return err
	}
	f, err := auditFilter(q)
	if err != nil {
		return err
	}
	if f.Format, err = chooseFormat(r, q["format"], exportFormats); err != nil {
		return err
	}

	buf := bufio.NewWriterSize(w, 32<<10)
	enc := newEventEncoder(f.Format, buf)
	started := false
	start := func() error {
		started = true
		name := "audit-events-" + c.p.TenantSlug + "-" + time.Now().UTC().Format("20060102T150405Z") + "." + f.Format
		w.Header().Set("Content-Type", enc.contentType)
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Vary", "Accept")
		w.WriteHeader(http.StatusOK)
		return enc.begin()
	}
	sent := 0
	meter := &rowMeter{s: s, c: c, pause: func() error { return flushExport(w, buf) }}
	err = s.audit.Export(r.Context(), c.scope, f, func(e tenantd.AuditEvent) error {
		if !started {
			if err := start(); err != nil {
				return err
			}
		}
		if err := enc.write(e); err != nil {
			return err
		}
		if err := meter.row(r.Context()); err != nil {
			return err
		}
		if sent++; sent%1000 == 0 {
			return flushExport(w, buf)
		}
		return nil
	})
	switch {
	case err != nil && !started:
		return err // nothing sent yet: a problem answer
	case err != nil:
		// Too late for a status. Cut the response off, so that a client
		// cannot take a partial export for a complete one; the database
		// recorded the failed export.
		logger(r.Context()).Warn("audit export cut short", "err", err, "events", sent)
		panic(http.ErrAbortHandler)
	case !started:
		if err := start(); err != nil {
			return nil // the client is gone
		}
	}
	if err := flushExport(w, buf); err != nil {
		panic(http.ErrAbortHandler)
	}
	return nil
}

func flushExport(w http.ResponseWriter, buf *bufio.Writer) error {
	if err := buf.Flush(); err != nil {
		return err
	}
	return http.NewResponseController(w).Flush()
}

// eventEncoder writes events in one export format.
type eventEncoder struct {
	contentType string
	begin       func() error
	write       func(tenantd.AuditEvent) error
}

var csvHeader = []string{"seq", "id", "occurred_at", "actor_type", "actor_id", "action", "target_type",
	"target_id", "outcome", "flagged", "flag_reason", "ip", "user_agent", "request_id", "changes"}

func newEventEncoder(format string, out *bufio.Writer) *eventEncoder {
	if format == "csv" {
		cw := csv.NewWriter(out)
		return &eventEncoder{
			contentType: "text/csv; charset=utf-8; header=present",
			begin: func() error {
				cw.Write(csvHeader)
				cw.Flush()
				return cw.Error()
			},
			write: func(e tenantd.AuditEvent) error {
				changes, _ := json.Marshal(e.Changes)
				var seq string // empty until the event is sealed
				if e.Seq != nil {
					seq = strconv.FormatInt(*e.Seq, 10)
				}
				cw.Write([]string{seq, e.ID.String(), e.OccurredAt.Format(time.RFC3339Nano),
					e.Actor.Type, csvCell(e.Actor.ID), e.Action, csvCell(e.Target.Type), csvCell(e.Target.ID), e.Outcome,
					strconv.FormatBool(e.Flagged), e.FlagReason, e.IP, csvCell(e.UserAgent), csvCell(e.RequestID), csvCell(string(changes))})
				cw.Flush()
				return cw.Error()
			},
		}
	}
	je := json.NewEncoder(out)
	return &eventEncoder{
		contentType: "application/jsonl; charset=utf-8",
		begin:       func() error { return nil },
		write:       func(e tenantd.AuditEvent) error { return je.Encode(e) },
	}
}

// cell defuses spreadsheet formulas: a cell that starts with = + - @ or a
// tab or carriage return is prefixed with ' (OWASP "CSV injection"), since
// compliance staff open exports in spreadsheets and these fields can hold
// what a client sent. JSON Lines exports carry the exact values.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// securityEventsPage is the answer of GET /v1/admin/security-events.
type securityEventsPage struct {
	Flagged      itemsPage[flaggedEvent]  `json:"flagged"`
	Unattributed itemsPage[securityEvent] `json:"unattributed"`
}

type flaggedEvent struct {
	TenantSlug string `json:"tenant_slug"`
	tenantd.AuditEvent
}

type securityEvent struct {
	ID              int64     `json:"id"`
	OccurredAt      time.Time `json:"occurred_at"`
	Action          string    `json:"action"`
	Reason          string    `json:"reason"`
	ClaimedTenantID *string   `json:"claimed_tenant_id"`
	IP              string    `json:"ip,omitempty"`
	UserAgent       string    `json:"user_agent,omitempty"`
	RequestID       string    `json:"request_id,omitempty"`
}

// securityEvents: GET /v1/admin/security-events, for platform security
// staff: flagged events of every tenant and security events of no verified
// tenant, each newest first with its own cursor. The operator's call is
// recorded by the operator flow.
func (s *Server) securityEvents(w http.ResponseWriter, r *http.Request, c *operatorCall) error {
	q, err := params(r)
	if err != nil {
		return err
	}
	limit, err := auditLimit(q)
	if err != nil {
		return err
	}
	flagged, nextFlagged, err := s.platform.FlaggedEvents(r.Context(), q["flagged_cursor"], limit)
	if err != nil {
		return err
	}
	unattributed, nextUnattributed, err := s.platform.UnattributedSecurityEvents(r.Context(), q["unattributed_cursor"], limit)
	if err != nil {
		return err
	}
	fl := make([]flaggedEvent, 0, len(flagged))
	for _, e := range flagged {
		fl = append(fl, flaggedEvent{TenantSlug: e.TenantSlug, AuditEvent: e.AuditEvent})
	}
	un := make([]securityEvent, 0, len(unattributed))
	for _, e := range unattributed {
		se := securityEvent{ID: e.ID, OccurredAt: e.OccurredAt, Action: e.Action, Reason: e.Reason,
			IP: e.IP, UserAgent: e.UserAgent, RequestID: e.RequestID}
		if e.ClaimedTenantID != nil {
			se.ClaimedTenantID = nullString(e.ClaimedTenantID.String())
		}
		un = append(un, se)
	}
	writeJSON(w, http.StatusOK, securityEventsPage{Flagged: pageOf(fl, nextFlagged), Unattributed: pageOf(un, nextUnattributed)})
	return nil
}

// auditFilter reads the filter parameters; postgres validates the rest.
func auditFilter(q map[string]string) (tenantd.AuditFilter, error) {
	f := tenantd.AuditFilter{Action: q["action"], ActorID: q["actor"], TargetType: q["target_type"], TargetID: q["target_id"]}
	switch q["flagged"] {
	case "":
	case "true", "false":
		v := q["flagged"] == "true"
		f.Flagged = &v
	default:
		return f, tenantd.Errorf(tenantd.EBADREQUEST, `Parameter "flagged" must be true or false.`)
	}
	for name, dst := range map[string]**time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q[name]; v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, tenantd.Errorf(tenantd.EBADREQUEST, "Parameter %q must be an RFC 3339 time, e.g. 2025-01-31T00:00:00Z.", name)
			}
			*dst = &t
		}
	}
	return f, f.Validate()
}

// auditLimit reads a page size: absent means the default; anything but an
// integer from 1 to 500 is a 400.
func auditLimit(q map[string]string) (int, error) {
	v, ok := q["limit"]
	if !ok {
		return 0, nil
	}
	return tenantd.ParseLimit(v)
}
