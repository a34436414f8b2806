package ratelimit

import (
	"net/http"
	"strconv"
	"time"
)

// Headers writes the rate-limit response headers of
// draft-ietf-httpapi-ratelimit-headers, so well-behaved clients can pace
// themselves instead of retrying blindly:
//
//	RateLimit-Policy: "default";q=<burst>;w=<seconds to refill the burst>
//	RateLimit: "default";r=<remaining>;t=<seconds until the bucket is full>
//	Retry-After: <seconds>   (only when the request was refused; at least 1)
//
// All durations are rounded up so a client that waits as told is never early.
func (d Decision) Headers(p Policy, h http.Header) {
	h.Set("RateLimit-Policy", `"default";q=`+strconv.Itoa(p.burst())+`;w=`+strconv.FormatInt(ceilSeconds(p.window(), 1), 10))
	h.Set("RateLimit", `"default";r=`+strconv.Itoa(d.Remaining)+`;t=`+strconv.FormatInt(ceilSeconds(d.Reset, 0), 10))
	if d.Allowed {
		h.Del("Retry-After")
		return
	}
	h.Set("Retry-After", strconv.FormatInt(ceilSeconds(d.RetryAfter, 1), 10))
}

// ceilSeconds rounds d up to whole seconds, and to at least minimum.
func ceilSeconds(d time.Duration, minimum int64) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, minimum)
}
