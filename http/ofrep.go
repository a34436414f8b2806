package http

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/tenantd/tenantd"
)

// The OpenFeature Remote Evaluation Protocol's core endpoints, so that a
// service using any OpenFeature SDK with the generic OFREP provider reads
// the caller's tenant's flags (tenantd.FlagEvaluation, flag.go) with a
// tenant token. The tenant comes from the token only: a tenant_id in the
// evaluation context that names another tenant is refused with 403 and
// flagged, like a tenant_id anywhere else (Route.TenantFields). Errors are
// problem details that also carry OFREP's members (key, errorCode,
// errorDetails), which the providers read.

// ofrepRoutes are the OFREP evaluation routes. Any user of the tenant may
// evaluate its flags: they drive what its product shows every user.
func (s *Server) ofrepRoutes() []Route {
	context := []string{"/context/tenant_id"}
	return []Route{
		{Method: "POST", Pattern: "/ofrep/v1/evaluate/flags/{key}", Access: Tenant, NoIdempotencyKey: true, TenantFields: context,
			Summary: "Evaluate one of the tenant's flags (OFREP)", tenant: s.evaluateFlag},
		{Method: "POST", Pattern: "/ofrep/v1/evaluate/flags", Access: Tenant, NoIdempotencyKey: true, TenantFields: context,
			Summary: "Evaluate every flag of the tenant (OFREP)", tenant: s.evaluateFlags},
	}
}

// OFREP error codes (OpenFeature's).
const (
	ofrepParseError     = "PARSE_ERROR"
	ofrepInvalidContext = "INVALID_CONTEXT"
	ofrepFlagNotFound   = "FLAG_NOT_FOUND"
)

// ofrepError is an application error answered with OFREP's members too.
type ofrepError struct {
	err  error
	key  *string // nil for a bulk evaluation
	code string
}

func (e *ofrepError) Error() string { return e.err.Error() }
func (e *ofrepError) Unwrap() error { return e.err }

// readEvaluationRequest reads OFREP's request, {"context": {…}}: a body
// that is no such JSON object is PARSE_ERROR, a context that is not an
// object (or whose targetingKey is not a string) INVALID_CONTEXT. The
// context selects nothing: every tenant flag is STATIC.
func readEvaluationRequest(r *http.Request, key *string) error {
	var in struct {
		Context json.RawMessage `json:"context"`
	}
	if err := decodeJSON(r, &in); err != nil {
		if tenantd.ErrorCode(err) != tenantd.EBADREQUEST {
			return err // 413, 415: not an evaluation's failure
		}
		return &ofrepError{err: err, key: key, code: ofrepParseError}
	}
	if len(in.Context) == 0 {
		return nil
	}
	var ctx map[string]json.RawMessage
	if err := json.Unmarshal(in.Context, &ctx); err != nil || ctx == nil {
		return &ofrepError{err: tenantd.Errorf(tenantd.EBADREQUEST, "The evaluation context must be a JSON object."),
			key: key, code: ofrepInvalidContext}
	}
	if tk, ok := ctx["targetingKey"]; ok {
		var v string
		if json.Unmarshal(tk, &v) != nil {
			return &ofrepError{err: tenantd.Errorf(tenantd.EBADREQUEST, "The context's targetingKey must be a string."),
				key: key, code: ofrepInvalidContext}
		}
	}
	return nil
}

// evaluateFlag: POST /ofrep/v1/evaluate/flags/{key}. 404 FLAG_NOT_FOUND
// for a key that is no feature of today.
func (s *Server) evaluateFlag(w http.ResponseWriter, r *http.Request, c *call) error {
	key := r.PathValue("key")
	if err := readEvaluationRequest(r, &key); err != nil {
		return err
	}
	cfg, err := s.settings.Configuration(r.Context(), c.scope)
	if err != nil {
		return err
	}
	e, ok := cfg.EvaluateFlag(key)
	if !ok {
		return &ofrepError{err: tenantd.Errorf(tenantd.ENOTFOUND, "The tenant has no flag of this key."),
			key: &key, code: ofrepFlagNotFound}
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

// flagSet is the answer of a bulk evaluation.
type flagSet struct {
	Flags []tenantd.FlagEvaluation `json:"flags"`
}

// evaluateFlags: POST /ofrep/v1/evaluate/flags, every flag of the tenant,
// with a strong ETag of the answer; If-None-Match naming it answers 304.
func (s *Server) evaluateFlags(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := readEvaluationRequest(r, nil); err != nil {
		return err
	}
	cfg, err := s.settings.Configuration(r.Context(), c.scope)
	if err != nil {
		return err
	}
	body, err := json.Marshal(flagSet{Flags: cfg.EvaluateFlags()})
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	tag := `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	w.Header().Set("ETag", tag)
	if noneMatch(r, tag) {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(append(body, '\n'))
	return nil
}

// noneMatch reports whether If-None-Match names tag (weak comparison, as
// RFC 9110 says for If-None-Match) or is "*".
func noneMatch(r *http.Request, tag string) bool {
	for _, h := range r.Header.Values("If-None-Match") {
		for _, t := range strings.Split(h, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == "*" || t == tag {
				return true
			}
		}
	}
	return false
}

// ofrepMembers adds OFREP's members to a problem answering err, when err
// is an evaluation's failure.
func ofrepMembers(p *Problem, err error) {
	var oe *ofrepError
	if !errors.As(err, &oe) {
		return
	}
	p.Key, p.ErrorCode, p.ErrorDetails = oe.key, oe.code, p.Detail
}
