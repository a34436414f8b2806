package http

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"strings"

	"github.com/tenantd/tenantd"
)

// settingsRoutes are the tenant's settings and features, for its owners
// and admins. The rules of each setting and the merge patch are in
// settings.go of the root package; the SQL in postgres/settings.go. A
// change is audited by the settings table's row trigger, in the change's
// own transaction.
func (s *Server) settingsRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/v1/tenant/settings", Access: Tenant, Summary: "The tenant's settings", tenant: s.getSettings},
		{Method: "PATCH", Pattern: "/v1/tenant/settings", Access: Tenant, Summary: "Change the tenant's settings (JSON merge patch)", tenant: s.patchSettings},
		{Method: "GET", Pattern: "/v1/tenant/features", Access: Tenant, Summary: "The tenant's features, each with its source", tenant: s.listFeatures},
		{Method: "GET", Pattern: "/v1/tenant/settings/history", Access: Tenant, Query: pageParams, Beta: tenantd.BetaSettingsHistory,
			Summary: "Every change of the tenant's settings", tenant: s.settingsHistory},
	}
}

// mergePatchType is the media type of a JSON merge patch (RFC 7396), the
// only body PATCH /v1/tenant/settings takes.
const mergePatchType = "application/merge-patch+json"

func errNotSettingsAdmin() error {
	return tenantd.Errorf(tenantd.EFORBIDDEN, "Only the tenant's owners and admins may read or change its settings and features.")
}

// settingsETag is the strong ETag of a settings document: a digest of its
// representation, so it changes whenever anything the document shows
// changes, the limits an operator sets included.
func settingsETag(doc tenantd.TenantSettings) string {
	b, _ := json.Marshal(doc)
	sum := sha256.Sum256(b)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
}

// getSettings: GET /v1/tenant/settings. Owners and admins.
func (s *Server) getSettings(w http.ResponseWriter, r *http.Request, c *call) error {
	if !c.p.IsTenantAdmin() {
		return errNotSettingsAdmin()
	}
	st, err := s.settings.Get(r.Context(), c.scope)
	if err != nil {
		return err
	}
	writeSettings(w, st.Document())
	return nil
}

func writeSettings(w http.ResponseWriter, doc tenantd.TenantSettings) {
	w.Header().Set("ETag", settingsETag(doc))
	w.Header().Set("Accept-Patch", mergePatchType)
	writeJSON(w, http.StatusOK, doc)
}

// patchSettings: PATCH /v1/tenant/settings, a JSON merge patch of the
// settings document with If-Match. Owners and admins. In this order: a
// patch naming limits is 403 and flagged (only operators set limits), an
// invalid one 422 listing every bad member, one without If-Match 428; then,
// under the settings row's lock, branding without the custom_branding
// feature is 403, and a stale If-Match 412. Nothing is stored unless all
// of it passes.
func (s *Server) patchSettings(w http.ResponseWriter, r *http.Request, c *call) error {
	if !c.p.IsTenantAdmin() {
		return errNotSettingsAdmin()
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != mergePatchType {
		w.Header().Set("Accept-Patch", mergePatchType)
		return tenantd.Errorf(tenantd.EUNSUPPORTED, "The settings are changed with a JSON merge patch: Content-Type: %s.", mergePatchType)
	}
	body, err := readBody(r, maxBodyBytes)
	if err != nil {
		return err
	}
	if err := decodeJSONBytes(body, new(any)); err != nil { // the same refusals of malformed JSON as every route
		return err
	}
	patch, err := tenantd.ParseSettingsPatch(body, c.p.TenantID)
	if err != nil {
		return err
	}
	if patch.Limits {
		return &flagged{reason: tenantd.FlagLimitsChange,
			error: tenantd.Errorf(tenantd.EFORBIDDEN, "The tenant's limits are set by its plan and by platform operators, not through its settings.")}
	}
	tags, anyVersion, err := ifMatchTags(r)
	if err != nil {
		return err
	}
	st, err := s.settings.Update(r.Context(), c.scope, patch, func(cur tenantd.StoredSettings) error {
		if patch.Branding && !cur.Config.Features.CustomBranding {
			return tenantd.Errorf(tenantd.EFORBIDDEN, "Branding needs the custom_branding feature, which the tenant's plan does not give.")
		}
		if current := settingsETag(cur.Document()); !anyVersion && !containsTag(tags, current) {
			return errStale()
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeSettings(w, st.Document())
	return nil
}

// ifMatchTags returns the entity tags of If-Match, or anyVersion for "*": 428
// when there is no If-Match. Weak tags never match (a strong comparison).
func ifMatchTags(r *http.Request) (tags []string, anyVersion bool, err error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	switch h {
	case "":
		return nil, false, tenantd.Errorf(tenantd.EPRECONDITIONREQUIRED,
			"Name the version of the settings this change applies to: If-Match with the ETag of GET /v1/tenant/settings.")
	case "*":
		return nil, true, nil
	}
	for _, tag := range strings.Split(h, ",") {
		if tag = strings.TrimSpace(tag); len(tag) >= 2 && tag[0] == '"' && tag[len(tag)-1] == '"' {
			tags = append(tags, tag)
		}
	}
	return tags, false, nil
}

func containsTag(tags []string, tag string) bool {
	for _, t := range tags {
		if t == tag {
			return true
		}
	}
	return false
}

// feature is one feature of GET /v1/tenant/features.
type feature struct {
	Name   string          `json:"name"`
	Value  json.RawMessage `json:"value"`
	Source string          `json:"source"`
}

// listFeatures: GET /v1/tenant/features, every feature of the tenant with
// its value and source (plan or override), in the list envelope. Owners
// and admins.
func (s *Server) listFeatures(w http.ResponseWriter, r *http.Request, c *call) error {
	if !c.p.IsTenantAdmin() {
		return errNotSettingsAdmin()
	}
	cfg, err := s.settings.Configuration(r.Context(), c.scope)
	if err != nil {
		return err
	}
	out := make([]feature, 0, len(tenantd.Betas)+3)
	for _, f := range cfg.FeatureList() {
		out = append(out, feature(f))
	}
	writeJSON(w, http.StatusOK, pageOf(out, ""))
	return nil
}

// settingsHistory: GET /v1/tenant/settings/history (beta
// settings_history): the settings.updated events of the tenant's audit
// log, newest first, in the list envelope. Owners and admins; the read is
// recorded like any read of the audit log.
func (s *Server) settingsHistory(w http.ResponseWriter, r *http.Request, c *call) error {
	if !c.p.IsTenantAdmin() {
		return errNotSettingsAdmin()
	}
	page, err := listPage(r)
	if err != nil {
		return err
	}
	items, next, err := s.audit.List(r.Context(), c.scope, tenantd.AuditFilter{
		Action: tenantd.ActionSettingsUpdated, Limit: page.Limit, Cursor: page.Cursor})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pageOf(items, next))
	return nil
}
