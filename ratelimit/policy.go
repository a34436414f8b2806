package ratelimit

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidPolicy is returned for a Policy that cannot be enforced.
var ErrInvalidPolicy = errors.New("ratelimit: invalid policy")

// maxWindow bounds the time an empty bucket takes to fill.
const maxWindow = 366 * 24 * time.Hour

// Policy is a tenant's quota: Rate requests per Period on average, of which
// up to Burst may arrive at once.
type Policy struct {
	Rate   int           // requests per Period, > 0
	Period time.Duration // > 0
	Burst  int           // requests allowed at once; 0 means Rate
}

// Decision is the outcome of one request against a bucket.
type Decision struct {
	Allowed    bool
	Limit      int           // the bucket's capacity (the policy's burst)
	Remaining  int           // requests that could be made right now
	Reset      time.Duration // until the bucket is full again
	RetryAfter time.Duration // until this request would be allowed; zero when allowed
}

func (p Policy) validate() error {
	if p.Rate <= 0 || p.Period <= 0 || p.Burst < 0 {
		return fmt.Errorf("%w: %+v", ErrInvalidPolicy, p)
	}
	if p.interval() < time.Microsecond {
		// The Redis script counts in whole microseconds.
		return fmt.Errorf("%w: more than one request per microsecond", ErrInvalidPolicy)
	}
	if p.burst() > int(maxWindow/p.interval()) {
		// Lua numbers are doubles: keep timestamps exact (and Durations
		// from overflowing).
		return fmt.Errorf("%w: burst takes longer than %v to refill", ErrInvalidPolicy, maxWindow)
	}
	return nil
}

func (p Policy) burst() int {
	if p.Burst == 0 {
		return p.Rate
	}
	return p.Burst
}

// interval is GCRA's emission interval: the time one request "costs".
func (p Policy) interval() time.Duration {
	return p.Period / time.Duration(p.Rate)
}

// window is the time an empty bucket takes to fill: burst requests per window
// is exactly the policy's sustained rate, which is what clients need to pace
// themselves.
func (p Policy) window() time.Duration {
	return p.interval() * time.Duration(p.burst())
}
