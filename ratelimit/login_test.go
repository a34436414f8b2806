package ratelimit_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantd/tenantd/internal/redistest"
	"github.com/tenantd/tenantd/ratelimit"
)

const account = "tenant-a\x00alice@example.com"

var (
	attacker = ratelimit.LoginAttempt{Account: account, Client: "203.0.113.7"}
	owner    = ratelimit.LoginAttempt{Account: account, Client: "198.51.100.20"}
)

// eachStore runs test against the shared (Redis) and the per-instance
// (memory) throttle: both must follow the same policy.
func eachStore(t *testing.T, policy ratelimit.LoginPolicy, test func(t *testing.T, lt *ratelimit.LoginThrottle)) {
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		rdb, prefix := redistest.New(t)
		test(t, ratelimit.NewLoginThrottle(rdb, prefix).WithPolicy(policy))
	})
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		test(t, ratelimit.NewLocalLoginThrottle().WithPolicy(policy))
	})
}

func TestLoginPairBacksOff(t *testing.T) {
	t.Parallel()
	eachStore(t, ratelimit.DefaultLoginPolicy(), func(t *testing.T, lt *ratelimit.LoginThrottle) {
		for i := 1; i <= 6; i++ { // 5 free, and the 6th that starts the back-off
			if d := mustAttempt(t, lt, attacker); !d.Allowed || d.Failures != i {
				t.Fatalf("attempt %d: %+v, want allowed as failure %d", i, d, i)
			}
		}
		d := mustAttempt(t, lt, attacker)
		if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > time.Second {
			t.Fatalf("7th attempt: %+v, want refused for at most 1s", d)
		}
	})
}

func TestLoginBackoffDoublesToItsCap(t *testing.T) {
	t.Parallel()
	b := ratelimit.DefaultLoginPolicy().Pair
	want := map[int]time.Duration{1: 0, 5: 0, 6: time.Second, 7: 2 * time.Second, 8: 4 * time.Second,
		15: 512 * time.Second, 16: 15 * time.Minute, 60: 15 * time.Minute, 1000: 15 * time.Minute}
	for n, d := range want {
		if got := ratelimit.LoginDelay(b, n); got != d {
			t.Errorf("lockout after failure %d = %v, want %v", n, got, d)
		}
	}
}

// OWASP's condition for an account budget that no single client can spend:
// what one client can fail on one account within the budget's window stays
// far below the budget.
func TestOneClientCannotSpendTheAccountBudget(t *testing.T) {
	t.Parallel()
	p := ratelimit.DefaultLoginPolicy()
	one := p.Pair.MaxFailures(p.Account.Window)
	if one != 15 {
		t.Errorf("one client can fail %d times per %v, want 15", one, p.Account.Window)
	}
	if one*4 > p.Account.Failures {
		t.Errorf("one client can spend %d of the account budget of %d per window", one, p.Account.Failures)
	}
}

// The heart of the policy: an attacker's failures from one address never
// refuse the owner at another address, or on a known device.
func TestAttackerDoesNotLockTheOwnerOut(t *testing.T) {
	t.Parallel()
	eachStore(t, ratelimit.DefaultLoginPolicy(), func(t *testing.T, lt *ratelimit.LoginThrottle) {
		refused := 0
		for range 300 {
			if !mustAttempt(t, lt, attacker).Allowed {
				refused++
			}
		}
		if refused < 290 {
			t.Fatalf("the attacker was refused only %d of 300 times", refused)
		}
		if d := mustAttempt(t, lt, owner); !d.Allowed || d.Failures != 1 {
			t.Fatalf("the owner at another address: %+v", d)
		}
		mustSucceed(t, lt, owner)
		device := owner
		device.Client, device.Device = attacker.Client, "device-1" // even from the attacker's address
		if d := mustAttempt(t, lt, device); !d.Allowed {
			t.Fatalf("the owner's known device: %+v", d)
		}
	})
}

// When many addresses together spend the account's budget, clients without
// a known device are refused until the window ends; known devices are not.
func TestSpentAccountBudgetSparesKnownDevices(t *testing.T) {
	t.Parallel()
	p := ratelimit.DefaultLoginPolicy()
	p.Account = ratelimit.Budget{Failures: 10, Window: time.Hour}
	eachStore(t, p, func(t *testing.T, lt *ratelimit.LoginThrottle) {
		for i := range 10 { // ten addresses, one failure each
			a := attacker
			a.Client = fmt.Sprintf("203.0.113.%d", i+1)
			if d := mustAttempt(t, lt, a); !d.Allowed {
				t.Fatalf("attempt %d refused within the budget: %+v", i+1, d)
			}
		}
		d := mustAttempt(t, lt, owner)
		if d.Allowed || d.RetryAfter <= 59*time.Minute || d.RetryAfter > time.Hour {
			t.Fatalf("an unknown client after the budget: %+v, want refused until the window ends", d)
		}
		known := owner
		known.Device = "device-1"
		if d := mustAttempt(t, lt, known); !d.Allowed {
			t.Fatalf("a known device after the budget: %+v", d)
		}
	})
}

// Refused attempts count nowhere: a locked-out attacker hammering away does
// not spend the account's budget.
func TestRefusedAttemptsSpendNoBudget(t *testing.T) {
	t.Parallel()
	p := ratelimit.DefaultLoginPolicy()
	p.Account = ratelimit.Budget{Failures: 8, Window: time.Hour}
	eachStore(t, p, func(t *testing.T, lt *ratelimit.LoginThrottle) {
		for range 100 {
			mustAttempt(t, lt, attacker) // 6 allowed, then locked
		}
		if d := mustAttempt(t, lt, owner); !d.Allowed {
			t.Fatalf("owner refused: the attacker's refused attempts spent the budget: %+v", d)
		}
	})
}

// Success forgets the pair's failures and gives the attempt back to the
// budgets; the client keeps its failures on other accounts.
func TestLoginSuccess(t *testing.T) {
	t.Parallel()
	p := ratelimit.DefaultLoginPolicy()
	p.Client.Free = 8
	eachStore(t, p, func(t *testing.T, lt *ratelimit.LoginThrottle) {
		other := ratelimit.LoginAttempt{Account: "tenant-a\x00bob@example.com", Client: owner.Client}
		for range 4 {
			mustAttempt(t, lt, other)
		}
		for range 4 {
			mustAttempt(t, lt, owner)
		}
		mustSucceed(t, lt, owner)
		if d := mustAttempt(t, lt, owner); !d.Allowed || d.Failures != 1 {
			t.Fatalf("after success: %+v, want failure 1 of a fresh pair", d)
		}
		mustSucceed(t, lt, owner)
		// The client made 9 attempts and has 8 free failures: the two
		// successful ones were given back, so bob's next is still free.
		if d := mustAttempt(t, lt, other); !d.Allowed || d.Failures != 5 {
			t.Fatalf("client refused although its successes were given back: %+v", d)
		}
		d := mustAttempt(t, lt, other)
		for d.Allowed {
			d = mustAttempt(t, lt, other)
		}
		if d := mustAttempt(t, lt, owner); d.Allowed {
			t.Fatalf("a client that spent its budget on bob may still guess alice: %+v", d)
		}
	})
}

// An IPv6 client is counted per /64: rotating addresses in it gains nothing.
func TestIPv6ClientsAreCountedPer64(t *testing.T) {
	t.Parallel()
	eachStore(t, ratelimit.DefaultLoginPolicy(), func(t *testing.T, lt *ratelimit.LoginThrottle) {
		for i := range 6 {
			a := ratelimit.LoginAttempt{Account: account, Client: fmt.Sprintf("2001:db8:1:2::%x", i+1)}
			if d := mustAttempt(t, lt, a); !d.Allowed || d.Failures != i+1 {
				t.Fatalf("attempt %d: %+v", i+1, d)
			}
		}
		if d := mustAttempt(t, lt, ratelimit.LoginAttempt{Account: account, Client: "2001:db8:1:2:ffff::9"}); d.Allowed {
			t.Fatalf("another address of the same /64: %+v", d)
		}
		if d := mustAttempt(t, lt, ratelimit.LoginAttempt{Account: account, Client: "2001:db8:1:3::1"}); !d.Allowed {
			t.Fatalf("another /64: %+v", d)
		}
	})
}

// Guesses sent at once cannot slip past the limit while their passwords
// are hashed: each attempt is counted before it is allowed.
func TestConcurrentAttemptsAreCountedExactly(t *testing.T) {
	t.Parallel()
	eachStore(t, ratelimit.DefaultLoginPolicy(), func(t *testing.T, lt *ratelimit.LoginThrottle) {
		var allowed atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 60 {
			wg.Go(func() {
				<-start
				d, err := lt.Attempt(context.Background(), attacker)
				if err != nil {
					t.Error(err)
				} else if d.Allowed {
					allowed.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if allowed.Load() != 6 {
			t.Fatalf("%d of 60 concurrent attempts allowed, want 6", allowed.Load())
		}
	})
}

// The memory store forgets a quiet key after its window and a spent budget
// when its window ends.
func TestLocalLoginStoreForgets(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	lt := ratelimit.NewLocalLoginThrottleAt(func() time.Time { return now })
	for range 6 {
		mustAttempt(t, lt, attacker)
	}
	if d := mustAttempt(t, lt, attacker); d.Allowed || d.RetryAfter != time.Second {
		t.Fatalf("locked pair: %+v", d)
	}
	now = now.Add(time.Second)
	if d := mustAttempt(t, lt, attacker); !d.Allowed || d.Failures != 7 {
		t.Fatalf("after the lockout: %+v", d)
	}
	now = now.Add(15*time.Minute + time.Millisecond)
	if d := mustAttempt(t, lt, attacker); !d.Allowed || d.Failures != 1 {
		t.Fatalf("after a quiet window: %+v", d)
	}
}

// Redis must not hold email addresses or IPs in clear text.
func TestLoginThrottleStoresNoPlainKeys(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	lt := ratelimit.NewLoginThrottle(rdb, prefix)
	for range 7 {
		mustAttempt(t, lt, attacker)
	}
	keys, err := rdb.Keys(context.Background(), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 4 {
		t.Fatalf("keys = %q, want the counters of pair, client and account, and the pair's lock", keys)
	}
	for _, k := range keys {
		if strings.Contains(k, "alice") || strings.Contains(k, "example.com") || strings.Contains(k, "203.0.113") {
			t.Fatalf("key %q reveals the email or the address", k)
		}
	}
}

// A Redis that lost its script cache (restart, failover) still throttles.
func TestLoginThrottleSurvivesScriptFlush(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	lt := ratelimit.NewLoginThrottle(rdb, prefix)
	mustAttempt(t, lt, attacker)
	if err := rdb.ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if d := mustAttempt(t, lt, attacker); !d.Allowed || d.Failures != 2 {
		t.Fatalf("after a script flush: %+v", d)
	}
}

// Once Redis said a key is locked, attempts on it are refused from memory
// until the lock ends: a flood of refused attempts costs Redis nothing.
func TestKnownLocksCostNoRoundTrip(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	lt := ratelimit.NewLoginThrottle(rdb, prefix).WithPolicy(slowPolicy())
	for range 7 { // the 7th is refused by Redis, and remembered
		mustAttempt(t, lt, attacker)
	}
	rdb.Close() // from here on, any question to Redis fails
	for range 100 {
		d, err := lt.Attempt(context.Background(), attacker)
		if err != nil || d.Allowed || d.RetryAfter <= 0 {
			t.Fatalf("a known lock went to Redis or was not honoured: %+v, %v", d, err)
		}
	}
	if _, err := lt.Attempt(context.Background(), owner); err == nil {
		t.Fatal("an attempt on keys without a known lock did not ask Redis")
	}
}

// slowPolicy locks for an hour, so a test's locks outlast it on any machine.
func slowPolicy() ratelimit.LoginPolicy {
	p := ratelimit.DefaultLoginPolicy()
	p.Pair.BaseDelay, p.Client.BaseDelay, p.Device.BaseDelay = time.Hour, time.Hour, time.Hour
	return p
}

func TestLoginThrottleReportsRedisOutage(t *testing.T) {
	t.Parallel()
	lt := ratelimit.NewLoginThrottle(deadRedis(t), "x:")
	if _, err := lt.Attempt(context.Background(), attacker); err == nil {
		t.Fatal("Attempt without Redis returned no error")
	}
}

func mustAttempt(t *testing.T, lt *ratelimit.LoginThrottle, a ratelimit.LoginAttempt) ratelimit.LoginDecision {
	t.Helper()
	d, err := lt.Attempt(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustSucceed(t *testing.T, lt *ratelimit.LoginThrottle, a ratelimit.LoginAttempt) {
	t.Helper()
	if err := lt.Success(context.Background(), a); err != nil {
		t.Fatal(err)
	}
}
