package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// LoginThrottle slows down password guessing without letting anyone lock
// an account's owner out, as OWASP's guidance on online guessing asks:
//
//   - Pair: one client (an IPv4 address or an IPv6 /64) guessing one
//     account gets a few free failures, then a back-off that doubles.
//   - Client: one client guessing across accounts gets a larger budget,
//     then the same back-off.
//   - Account: every client without a known device, together, gets a budget
//     per window much larger than what one client can spend in it, so one
//     attacking address can never use it up.
//   - Device: a device the account logged in from before (the caller has
//     verified its signed cookie) is counted on its own instead of the
//     three above, so the owner keeps logging in while the account is under
//     attack from elsewhere.
//
// An attempt is counted before its password is checked (Attempt) and a
// successful one is given back (Success): concurrent guesses cannot slip
// past a limit while their passwords are being hashed, and refused attempts
// are counted nowhere, so a client that is refused spends nobody's budget.
//
// State lives in Redis, shared by every instance (NewLoginThrottle), or in
// process memory, per instance (NewLocalLoginThrottle), for a deployment
// without Redis. The Redis throttle has no local fallback: when Redis fails
// its methods return the error, and the login handler refuses the attempt,
// because an attacker who can make Redis unreachable must not gain
// unlimited guesses.
type LoginThrottle struct {
	policy LoginPolicy
	store  loginStore
	local  atomic.Uint64 // decisions made in process memory
	known  knownLocks    // locks Redis reported, until they end
}

// LoginPolicy is how each kind of key limits failed logins.
type LoginPolicy struct {
	Pair    Backoff
	Client  Backoff
	Device  Backoff
	Account Budget
}

// Backoff allows Free failures, then locks the key for BaseDelay after each
// further failure, doubling up to MaxDelay. The count is forgotten Window
// after the key's last failure.
type Backoff struct {
	Free      int
	BaseDelay time.Duration
	MaxDelay  time.Duration
	Window    time.Duration
}

// Budget allows Failures per Window, counted from the first failure of the
// window; beyond it the key is refused until the window ends.
type Budget struct {
	Failures int
	Window   time.Duration
}

// DefaultLoginPolicy: 5 free failures per client and account, then 1 s
// doubling to 15 min; 20 per client across accounts; 100 per account and
// 15 minutes for clients without a known device. One client can spend at
// most MaxPairFailures(15 min) = 15 of those 100 in a window.
func DefaultLoginPolicy() LoginPolicy {
	backoff := func(free int) Backoff {
		return Backoff{Free: free, BaseDelay: time.Second, MaxDelay: 15 * time.Minute, Window: 15 * time.Minute}
	}
	return LoginPolicy{
		Pair:    backoff(5),
		Client:  backoff(20),
		Device:  backoff(5),
		Account: Budget{Failures: 100, Window: 15 * time.Minute},
	}
}

// MaxFailures is the most failures a key under b can be charged within any
// span of length d: its free failures, then one per lockout that ends
// within d.
func (b Backoff) MaxFailures(d time.Duration) int {
	n, elapsed, delay := b.Free+1, time.Duration(0), b.BaseDelay
	for {
		elapsed += delay
		if elapsed > d {
			return n
		}
		n++
		delay = min(2*delay, b.MaxDelay)
	}
}

// LoginAttempt names who is trying to log in.
type LoginAttempt struct {
	// Account is the account the attempt names: tenant and email, as typed
	// (normalised), whether or not it exists.
	Account string
	// Client is the client's IP address, as the server determined it.
	Client string
	// Device is the id of a device cookie that the caller verified for
	// this account; empty when there is none.
	Device string
}

// LoginDecision is the outcome of Attempt.
type LoginDecision struct {
	Allowed bool
	// RetryAfter is how long a refused attempt must wait.
	RetryAfter time.Duration
	// Failures counts the attempts of this client (or device) on this
	// account in a row, this one included: 6 means 5 failed before it.
	Failures int
}

// NewLoginThrottle returns a throttle under DefaultLoginPolicy that keeps
// its counts in rdb under prefix, shared by every instance.
func NewLoginThrottle(rdb redis.UniversalClient, prefix string) *LoginThrottle {
	return &LoginThrottle{policy: DefaultLoginPolicy(), store: &redisLoginStore{rdb: rdb, prefix: prefix}}
}

// NewLocalLoginThrottle returns a throttle under DefaultLoginPolicy that
// keeps its counts in process memory: each instance throttles on its own.
func NewLocalLoginThrottle() *LoginThrottle {
	return &LoginThrottle{policy: DefaultLoginPolicy(), store: newLocalLoginStore()}
}

// WithPolicy returns t with another policy, for tests; call it before use.
func (t *LoginThrottle) WithPolicy(p LoginPolicy) *LoginThrottle {
	t.policy = p
	return t
}

// Shared reports whether the throttle's counts are shared by every instance.
func (t *LoginThrottle) Shared() bool { _, ok := t.store.(*redisLoginStore); return ok }

// LocalDecisions counts the attempts decided in process memory.
func (t *LoginThrottle) LocalDecisions() uint64 { return t.local.Load() }

// Attempt decides whether a login attempt may check its password, and if
// so counts it as a failure in advance: call Success when the password was
// right. A refused attempt is not counted anywhere.
func (t *LoginThrottle) Attempt(ctx context.Context, a LoginAttempt) (LoginDecision, error) {
	if !t.Shared() {
		t.local.Add(1)
	}
	keys := t.keys(a)
	now := time.Now()
	if wait := t.known.wait(keys, now); wait > 0 {
		return LoginDecision{RetryAfter: wait}, nil
	}
	res, err := t.store.attempt(ctx, keys)
	if err != nil {
		return LoginDecision{}, err
	}
	if !res.allowed {
		t.known.add(keys, res.locks, now)
		return LoginDecision{RetryAfter: res.wait}, nil
	}
	return LoginDecision{Allowed: true, Failures: res.counts[0]}, nil
}

// Success gives a successful attempt back: the pair's (or the device's)
// failures are forgotten, and the attempt no longer counts against the
// client's and the account's budgets. The client keeps the failures it made
// on other accounts: logging in to an account it owns does not let it guess
// more.
func (t *LoginThrottle) Success(ctx context.Context, a LoginAttempt) error {
	keys := t.keys(a)
	return t.store.success(ctx, keys[:1], keys[1:])
}

// keys lists the keys an attempt is counted on, the pair's or the device's
// first.
func (t *LoginThrottle) keys(a LoginAttempt) []loginKey {
	if a.Device != "" {
		return []loginKey{{"dev:" + a.Device, t.policy.Device.rule()}}
	}
	client := ClientKey(a.Client)
	return []loginKey{
		{"pair:" + a.Account + "\x00" + client, t.policy.Pair.rule()},
		{"client:" + client, t.policy.Client.rule()},
		{"acct:" + a.Account, t.policy.Account.rule()},
	}
}

// ClientKey is the unit a client is counted in: its IPv4 address, or the
// /64 of its IPv6 address (one subscriber usually gets a whole /64).
func ClientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a = a.Unmap(); a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// rule is the one shape both kinds of limits take in a store.
type rule struct {
	free                   int
	base, maxDelay, window time.Duration
	fixed                  bool // a Budget: refused until the window ends
}

func (b Backoff) rule() rule {
	return rule{free: b.Free, base: b.BaseDelay, maxDelay: b.MaxDelay, window: b.Window}
}

func (b Budget) rule() rule { return rule{free: b.Failures, window: b.Window, fixed: true} }

// delay is the lockout after the key's nth failure under a Backoff.
func (r rule) delay(n int) time.Duration {
	if n <= r.free {
		return 0
	}
	d := r.base
	for i := r.free + 1; i < n && d < r.maxDelay; i++ {
		d *= 2
	}
	return min(d, r.maxDelay)
}

type loginKey struct {
	name string
	rule rule
}

type attemptResult struct {
	allowed bool
	wait    time.Duration   // refused: until the longest lock among the keys ends
	locks   []time.Duration // refused: each key's lock, zero when it has none (optional)
	counts  []int           // allowed: each key's failures, this attempt included
}

// loginStore keeps the counts. attempt counts the attempt on every key, or
// on none when any key refuses it; success forgets the reset keys and gives
// the attempt back to the refund keys.
type loginStore interface {
	attempt(ctx context.Context, keys []loginKey) (attemptResult, error)
	success(ctx context.Context, reset, refund []loginKey) error
}

// knownLocks remembers the locks the shared store reported, so a flood of
// attempts that are refused anyway costs no round trip to Redis. That is
// exact, not a guess: a lock never ends early. Success clears a key, but
// only an attempt that no lock refused can succeed.
type knownLocks struct {
	mu    sync.Mutex
	until map[string]time.Time
}

// maxKnownLocks bounds the memory of knownLocks; beyond it, new locks are
// asked of Redis again rather than remembered.
const maxKnownLocks = 100_000

func (k *knownLocks) wait(keys []loginKey, now time.Time) time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	var wait time.Duration
	for _, key := range keys {
		name := hashKey(key.name)
		if until, ok := k.until[name]; ok {
			if d := until.Sub(now); d > 0 {
				wait = max(wait, d)
			} else {
				delete(k.until, name)
			}
		}
	}
	return wait
}

func (k *knownLocks) add(keys []loginKey, locks []time.Duration, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.until == nil {
		k.until = make(map[string]time.Time)
	}
	if len(k.until) >= maxKnownLocks {
		for name, until := range k.until {
			if !until.After(now) {
				delete(k.until, name)
			}
		}
	}
	for i, d := range locks {
		if d > 0 && len(k.until) < maxKnownLocks {
			k.until[hashKey(keys[i].name)] = now.Add(d)
		}
	}
}

// hashKey names a key without its content: Redis and memory dumps hold no
// email address or IP in clear text.
func hashKey(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:16])
}
