package tenantd

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Application error codes. The HTTP layer maps each to one status and one
// problem type, in one place (http/problem.go).
const (
	EINVALID      = "invalid"             // 422: the input is understood but wrong
	EBADREQUEST   = "bad_request"         // 400: the input cannot be understood
	EUNAUTHORIZED = "unauthorized"        // 401: no or bad credentials
	EFORBIDDEN    = "forbidden"           // 403: valid credentials, not allowed
	ENOTFOUND     = "not_found"           // 404: missing, or another tenant's
	EMETHOD       = "method_not_allowed"  // 405: the route exists with other methods
	ECONFLICT     = "conflict"            // 409: clashes with existing state
	ELIMIT        = "limit_exceeded"      // 409: a tenant limit would be overshot
	EPRECONDITION = "precondition_failed" // 412: stale If-Match
	ETOOLARGE     = "too_large"           // 413
	EUNSUPPORTED  = "unsupported_media"   // 415: a body in a media type the route does not take
	ERATELIMIT    = "rate_limited"        // 429
	EUNAVAILABLE  = "unavailable"         // 503: the database is down; retry
	EINTERNAL     = "internal"            // 500: a bug; details are logged, never sent

	// 428: a change that must name the version it applies to (If-Match)
	// did not.
	EPRECONDITIONREQUIRED = "precondition_required"
)

// Error is an application error: safe to show to a client.
type Error struct {
	Code    string
	Message string
	// Fields lists invalid input by JSON pointer (RFC 6901), for EINVALID.
	Fields []FieldError
	// Limit names the limit for ELIMIT (e.g. "max_workspaces").
	Limit string
	// RetryAfter is set for ERATELIMIT and EUNAVAILABLE.
	RetryAfter time.Duration
	// Cause is the underlying error, for logs only: never sent to a client.
	Cause error
}

// FieldError is one invalid field.
type FieldError struct {
	Pointer string `json:"pointer"`
	Detail  string `json:"detail"`
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("tenantd: %s: %s (%v)", e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("tenantd: %s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Errorf returns an application error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of an application error, EINTERNAL for any other
// error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// AsError returns the application error inside err, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// MissingID is ENOTFOUND for an id the caller named: it says which kind of
// id (user, workspace) was not found, so the HTTP layer can check whether
// it belongs to another tenant.
type MissingID struct {
	Kind string
	ID   uuid.UUID
}

func (m *MissingID) Error() string { return fmt.Sprintf("tenantd: %s %s not found", m.Kind, m.ID) }

// Unwrap makes a MissingID an ENOTFOUND application error.
func (m *MissingID) Unwrap() error { return Errorf(ENOTFOUND, "Not found.") }

// Invalid is EINVALID listing fields, or nil when there are none.
func Invalid(fields ...FieldError) error {
	if len(fields) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: "The request is invalid.", Fields: fields}
}
