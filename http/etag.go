package http

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tenantd/tenantd"
)

// Optimistic concurrency: a resource's strong ETag is its version, the
// microsecond of its last change (updated_at), which every write moves.
// A PATCH with If-Match changes the resource only if its version is still
// one of those named, checked by the database under the row's lock; a
// stale or made-up tag is 412 and changes nothing.

// etag is the ETag of a resource last changed at updated.
func etag(updated time.Time) string {
	return `"` + strconv.FormatInt(updated.UnixMicro(), 36) + `"`
}

// setETag sets the ETag response header.
func setETag(w http.ResponseWriter, updated time.Time) {
	w.Header().Set("ETag", etag(updated))
}

// ifMatch returns the versions an If-Match header allows: nil when there is
// no header or it is "*" (any current version). Tags that are not ours
// match nothing; when none is ours the request is 412 at once.
func ifMatch(r *http.Request) ([]time.Time, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return nil, nil
	}
	var out []time.Time
	for _, tag := range strings.Split(h, ",") {
		tag = strings.TrimSpace(tag)
		if len(tag) < 3 || tag[0] != '"' || tag[len(tag)-1] != '"' {
			continue // weak or malformed: never matches a strong comparison
		}
		if v, err := strconv.ParseInt(tag[1:len(tag)-1], 36, 64); err == nil {
			out = append(out, time.UnixMicro(v).UTC())
		}
	}
	if len(out) == 0 {
		return nil, errStale()
	}
	return out, nil
}

func errStale() error {
	return tenantd.Errorf(tenantd.EPRECONDITION, "The resource has changed since the version named in If-Match; read it again.")
}
