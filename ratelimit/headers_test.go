package ratelimit_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/tenantd/tenantd/internal/redistest"
	"github.com/tenantd/tenantd/ratelimit"
)

func TestHeadersFormat(t *testing.T) {
	t.Parallel()
	// 100 per minute is one per 600ms; a burst of 20 refills in 12s.
	p := ratelimit.Policy{Rate: 100, Period: time.Minute, Burst: 20}

	h := http.Header{}
	ratelimit.Decision{Allowed: true, Limit: 20, Remaining: 7, Reset: 7800 * time.Millisecond}.Headers(p, h)
	assertHeader(t, h, "RateLimit-Policy", `"default";q=20;w=12`)
	assertHeader(t, h, "RateLimit", `"default";r=7;t=8`)
	assertHeader(t, h, "Retry-After", "")

	h = http.Header{}
	ratelimit.Decision{Limit: 20, Reset: 12 * time.Second, RetryAfter: 200 * time.Millisecond}.Headers(p, h)
	assertHeader(t, h, "RateLimit-Policy", `"default";q=20;w=12`)
	assertHeader(t, h, "RateLimit", `"default";r=0;t=12`)
	assertHeader(t, h, "Retry-After", "1") // rounded up, never 0

	h = http.Header{}
	ratelimit.Decision{Limit: 20, Reset: 12 * time.Second, RetryAfter: 2001 * time.Millisecond}.Headers(p, h)
	assertHeader(t, h, "Retry-After", "3")
}

// A window shorter than a second still reads as a usable policy (w >= 1).
func TestHeadersSubSecondWindow(t *testing.T) {
	t.Parallel()
	p := ratelimit.Policy{Rate: 20, Period: time.Second, Burst: 1}
	h := http.Header{}
	ratelimit.Decision{Allowed: true, Limit: 1, Reset: 50 * time.Millisecond}.Headers(p, h)
	assertHeader(t, h, "RateLimit-Policy", `"default";q=1;w=1`)
	assertHeader(t, h, "RateLimit", `"default";r=0;t=1`)
}

func TestHeadersOfARealDenial(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	l := ratelimit.New(rdb, prefix)
	p := ratelimit.Policy{Rate: 2, Period: time.Second, Burst: 1} // 500ms per request
	d := mustAllow(t, l, "k", p)
	for range 5 { // only a 500ms stall between calls lets a second one through
		if d = mustAllow(t, l, "k", p); !d.Allowed {
			break
		}
	}
	if d.Allowed {
		t.Fatalf("never denied: %+v", d)
	}
	h := http.Header{}
	d.Headers(p, h)
	if n, err := strconv.Atoi(h.Get("Retry-After")); err != nil || n < 1 {
		t.Fatalf("Retry-After = %q, want an integer >= 1", h.Get("Retry-After"))
	}
	assertHeader(t, h, "RateLimit", `"default";r=0;t=1`)
}

func assertHeader(t *testing.T, h http.Header, name, want string) {
	t.Helper()
	if got := h.Get(name); got != want {
		t.Errorf("%s = %q, want %q", name, got, want)
	}
}
