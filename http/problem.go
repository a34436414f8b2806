package http

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/tenantd/tenantd"
)

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type     string               `json:"type"`
	Title    string               `json:"title"`
	Status   int                  `json:"status"`
	Detail   string               `json:"detail,omitempty"`
	Instance string               `json:"instance,omitempty"`
	Errors   []tenantd.FieldError `json:"errors,omitempty"`
	Limit    string               `json:"limit,omitempty"`
	// RequestID repeats the X-Request-ID response header, so a problem
	// body pasted into a support ticket can be found in the logs and the
	// audit log.
	RequestID string `json:"request_id,omitempty"`
	// Key, ErrorCode and ErrorDetails are the members OFREP's providers
	// read in a failed evaluation (ofrep.go); absent from other problems.
	Key          *string `json:"key,omitempty"`
	ErrorCode    string  `json:"errorCode,omitempty"`
	ErrorDetails string  `json:"errorDetails,omitempty"`
}

// problemTypes maps each application error code to its HTTP status and
// problem type, in this one place. Types are relative URIs documented at
// /problems/{name} and in the OpenAPI document.
var problemTypes = map[string]struct {
	status int
	name   string
	title  string
}{
	tenantd.EBADREQUEST:           {http.StatusBadRequest, "bad-request", "Bad request"},
	tenantd.EINVALID:              {http.StatusUnprocessableEntity, "validation-failed", "Validation failed"},
	tenantd.EUNAUTHORIZED:         {http.StatusUnauthorized, "unauthorized", "Unauthorized"},
	tenantd.EFORBIDDEN:            {http.StatusForbidden, "forbidden", "Forbidden"},
	tenantd.ENOTFOUND:             {http.StatusNotFound, "not-found", "Not found"},
	tenantd.EMETHOD:               {http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed"},
	tenantd.ECONFLICT:             {http.StatusConflict, "conflict", "Conflict"},
	tenantd.ELIMIT:                {http.StatusConflict, "limit-exceeded", "Limit exceeded"},
	tenantd.EPRECONDITION:         {http.StatusPreconditionFailed, "precondition-failed", "Precondition failed"},
	tenantd.EPRECONDITIONREQUIRED: {http.StatusPreconditionRequired, "precondition-required", "Precondition required"},
	tenantd.ETOOLARGE:             {http.StatusRequestEntityTooLarge, "too-large", "Request too large"},
	tenantd.EUNSUPPORTED:          {http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type"},
	tenantd.ERATELIMIT:            {http.StatusTooManyRequests, "rate-limited", "Too many requests"},
	tenantd.EUNAVAILABLE:          {http.StatusServiceUnavailable, "unavailable", "Service unavailable"},
	tenantd.EINTERNAL:             {http.StatusInternalServerError, "internal", "Internal error"},
}

// StatusOf returns the HTTP status an error is answered with.
func StatusOf(err error) int {
	if t, ok := problemTypes[tenantd.ErrorCode(err)]; ok {
		return t.status
	}
	return http.StatusInternalServerError
}

// writeError answers err as problem+json. Internal errors are logged with
// the request id and answered without any detail.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := tenantd.ErrorCode(err)
	t, ok := problemTypes[code]
	if !ok {
		t = problemTypes[tenantd.EINTERNAL]
	}
	p := Problem{
		Type:     "/problems/" + t.name,
		Title:    t.title,
		Status:   t.status,
		Detail:   tenantd.ErrorMessage(err),
		Instance: r.URL.Path,
	}
	ofrepMembers(&p, err)
	if e, ok := tenantd.AsError(err); ok {
		p.Errors, p.Limit = e.Fields, e.Limit
		if e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+999_999_999)/1_000_000_000)))
		}
	}
	// What the OpenAPI document promises of every such answer: a 401
	// carries a challenge (RFC 9110 requires one), a 429 or 503 says when
	// to retry.
	switch t.status {
	case http.StatusUnauthorized:
		if w.Header().Get("WWW-Authenticate") == "" {
			w.Header().Set("WWW-Authenticate", bearerChallenge)
		}
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", "1")
		}
	}
	if code == tenantd.EINTERNAL {
		logger(r.Context()).Error("internal error", "err", err)
	} else if t.status == http.StatusServiceUnavailable {
		logger(r.Context()).Warn("unavailable", "err", err)
	}
	writeProblem(w, p)
}

func writeProblem(w http.ResponseWriter, p Problem) {
	if p.RequestID == "" {
		p.RequestID = w.Header().Get("X-Request-ID")
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}
