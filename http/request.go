package http

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/tenantd/tenantd"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyLogger
	keyClientIP
	keyState
)

// requestState is filled in as the request goes through the flow, for the
// access log and metrics.
type requestState struct {
	tenantID string
	route    string
	query    *parsedQuery
}

type parsedQuery struct {
	values url.Values
	err    error
}

func stateOf(ctx context.Context) *requestState {
	if s, ok := ctx.Value(keyState).(*requestState); ok {
		return s
	}
	return &requestState{}
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(keyRequestID).(string)
	return id
}

func logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(keyLogger).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

var safeRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func newRequestID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// clientIP is the address of the client: the peer, or, when the peer is a
// trusted proxy, the rightmost X-Forwarded-For address that is not one.
// Addresses a client writes into X-Forwarded-For are never trusted.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	peer, ok := peerAddr(r)
	if !ok {
		return ""
	}
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if a = a.Unmap(); !isTrusted(a, trusted) {
			return a.String()
		}
	}
	return peer.String()
}

// fromTrustedProxy reports whether the peer is one of the trusted proxies,
// whose X-Forwarded-* headers count.
func fromTrustedProxy(r *http.Request, trusted []netip.Prefix) bool {
	peer, ok := peerAddr(r)
	return ok && isTrusted(peer, trusted)
}

// peerAddr is the address of the connection's other end.
func peerAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	return peer.Unmap(), err == nil
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func requestInfo(r *http.Request) tenantd.RequestInfo {
	ip, _ := r.Context().Value(keyClientIP).(string)
	return tenantd.RequestInfo{ID: requestID(r.Context()), IP: ip, UserAgent: r.UserAgent()}
}

// query returns the request's query parameters, parsed once. A query that
// url.ParseQuery cannot parse (more than 10,000 parameters, a semicolon
// separator, a bad escape) is EBADREQUEST: r.URL.Query() would quietly
// return only part of it (nothing at all past 10,000 parameters), and a
// dropped tenant_id or audit filter must never let a request through. Every
// flow calls it before the handler runs (see wrap), and handlers read their
// parameters only through it.
func query(r *http.Request) (url.Values, error) {
	st := stateOf(r.Context())
	if st.query == nil {
		v, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			v, err = nil, tenantd.Errorf(tenantd.EBADREQUEST, "The query string cannot be parsed: %v.", err)
		}
		st.query = &parsedQuery{values: v, err: err}
	}
	return st.query.values, st.query.err
}

// readBody reads the whole body up to max bytes: ETOOLARGE beyond.
func readBody(r *http.Request, max int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, tenantd.Errorf(tenantd.EBADREQUEST, "The request body could not be read.")
	}
	if int64(len(b)) > max {
		return nil, tenantd.Errorf(tenantd.ETOOLARGE, "The request body is larger than %d bytes.", max)
	}
	return b, nil
}

// decodeJSON decodes the request body strictly into v: one JSON object,
// valid UTF-8, no unknown fields, no trailing data. Every failure is a 400
// that says what is wrong, and nothing is stored. A body declared as
// anything but JSON is 415; no Content-Type at all is taken as JSON.
func decodeJSON(r *http.Request, v any) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	body, err := readBody(r, maxBodyBytes)
	if err != nil {
		return err
	}
	return decodeJSONBytes(body, v)
}

// requireJSON refuses a body whose Content-Type is not JSON
// (application/json, or a +json type such as application/merge-patch+json).
func requireJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return &tenantd.Error{Code: tenantd.EUNSUPPORTED, Message: "The request body must be application/json."}
	}
	return nil
}

func decodeJSONBytes(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return tenantd.Errorf(tenantd.EBADREQUEST, "The request body must be a JSON object.")
	}
	if !utf8.Valid(body) {
		return tenantd.Errorf(tenantd.EBADREQUEST, "The request body is not valid UTF-8.")
	}
	if bytes.IndexByte(body, 0) >= 0 || bytes.Contains(body, []byte(`\u0000`)) {
		return tenantd.Errorf(tenantd.EBADREQUEST, "The request body must not contain NUL characters.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return tenantd.Errorf(tenantd.EBADREQUEST, "The request body is not valid JSON (at byte %d).", syn.Offset)
		case errors.As(err, &typ):
			return tenantd.Errorf(tenantd.EBADREQUEST, "Field %q must be of type %s.", typ.Field, typ.Type.String())
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return tenantd.Errorf(tenantd.EBADREQUEST, "Unknown field %q.", clip(name))
		default:
			return tenantd.Errorf(tenantd.EBADREQUEST, "The request body is not valid JSON.")
		}
	}
	if dec.More() {
		return tenantd.Errorf(tenantd.EBADREQUEST, "The request body must hold exactly one JSON value.")
	}
	return nil
}

// clip shortens a name the client chose (an unknown field or parameter)
// for an error message, which is also stored in the request's audit event.
func clip(s string) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) > 40 {
		s = strings.ToValidUTF8(s[:40], "") + "…"
	}
	return s
}
