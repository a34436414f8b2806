// Package ratelimit throttles API requests per tenant across every instance
// of the server, and slows down password guessing at login.
//
// # Algorithm
//
// Limiter implements GCRA (the generic cell rate algorithm, a leaky bucket
// that stores one timestamp per key instead of a counter and a refill time).
// The whole read-decide-write step runs as one Lua script inside Redis, so
// concurrent requests on many instances can never overshoot a bucket, and
// the script reads the time from Redis (TIME), so instances whose clocks
// disagree still agree on every decision. A key expires when its bucket
// would be full again, so idle tenants cost no memory.
//
// # Leases
//
// Asking Redis for every request would cost every API request a round
// trip. AllowOrLocal instead takes a tenant's requests from the shared
// bucket in small batches (a hundredth of the burst, at most 1,000, for
// at most 100 ms) and spends them in the instance, and remembers a refusal
// until its Retry-After: every request allowed was still taken from the
// one bucket by the exact script, so instances together never exceed the
// policy, and fall short of it at most by the leases that end unused
// (lease.go). Allow stays exact, one request per call.
//
// # When Redis is down
//
// Allow fails closed in the sense that it never guesses: it returns the
// error, and the caller decides. AllowOrLocal is the choice for the request
// path: it falls back to an in-process limiter on each instance, logs the
// outage once, and retries Redis after a short pause. During an outage a
// tenant can therefore get up to (number of instances) times its quota, which
// is better than either refusing every request (a Redis outage would take
// the API down) or allowing every request (one noisy tenant could take the
// database down).
//
// LoginThrottle has no local fallback: its methods return the error. The
// login handler should then refuse the attempt (fail closed), because an
// attacker who can make Redis unreachable must not gain unlimited guesses.
//
// # Without Redis
//
// A deployment without Redis is still throttled, per instance: NewLocal and
// NewLocalLoginThrottle keep the same limits in process memory. Both count
// the decisions they make there (LocalDecisions), for a metric.
package ratelimit
