package ratelimit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tenantd/tenantd/internal/redistest"
	"github.com/tenantd/tenantd/ratelimit"
)

const (
	account = "acct:tenant-a:alice@example.com"
	ip      = "ip:203.0.113.7"
)

func TestLoginThrottleBacksOffExponentially(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	lt := ratelimit.NewLoginThrottle(rdb, prefix)

	for i := 1; i <= 5; i++ {
		if n := mustFail(t, lt, account, ip); n != i {
			t.Fatalf("failure %d counted as %d", i, n)
		}
		if wait := mustCheck(t, lt, account, ip); wait != 0 {
			t.Fatalf("locked out after %d failures (free: 5): %v", i, wait)
		}
	}

	mustFail(t, lt, account, ip)
	first := mustCheck(t, lt, account, ip)
	if first <= 0 || first > time.Second {
		t.Fatalf("after 6 failures: wait %v, want (0, 1s]", first)
	}
	mustFail(t, lt, account, ip)
	second := mustCheck(t, lt, account, ip)
	if second <= first || second > 2*time.Second {
		t.Fatalf("after 7 failures: wait %v, want more than %v and at most 2s", second, first)
	}
}

func TestLoginThrottleCapsDelay(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	lt := ratelimit.NewLoginThrottle(rdb, prefix)
	for range 60 {
		mustFail(t, lt, account)
	}
	if wait := mustCheck(t, lt, account); wait <= 14*time.Minute || wait > 15*time.Minute {
		t.Fatalf("after 60 failures: wait %v, want about 15m", wait)
	}
}

// Success clears the account key only: the IP that guessed stays throttled,
// so it cannot reset its count by logging into an account it owns.
func TestLoginThrottleSuccessClearsAccountNotIP(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	lt := ratelimit.NewLoginThrottle(rdb, prefix)
	for range 6 {
		mustFail(t, lt, account, ip)
	}
	if err := lt.Success(context.Background(), account); err != nil {
		t.Fatal(err)
	}
	if wait := mustCheck(t, lt, account); wait != 0 {
		t.Fatalf("account still locked after success: %v", wait)
	}
	if wait := mustCheck(t, lt, account, ip); wait <= 0 {
		t.Fatal("IP lockout cleared by the account's success")
	}
	if n := mustFail(t, lt, account); n != 1 {
		t.Fatalf("account failures after success = %d, want 1", n)
	}
}

func TestLoginThrottleKeysAreIndependent(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	lt := ratelimit.NewLoginThrottle(rdb, prefix)
	for range 6 {
		mustFail(t, lt, ip)
	}
	if wait := mustCheck(t, lt, account); wait != 0 {
		t.Fatalf("account locked by another key's failures: %v", wait)
	}
	if wait := mustCheck(t, lt, "ip:198.51.100.1"); wait != 0 {
		t.Fatalf("other IP locked: %v", wait)
	}
	if wait := mustCheck(t, lt, "acct:tenant-a:bob@example.com", ip); wait <= 0 {
		t.Fatal("locked IP may try another account")
	}
}

// Redis must not hold email addresses or IPs in clear text.
func TestLoginThrottleStoresNoPlainKeys(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	lt := ratelimit.NewLoginThrottle(rdb, prefix)
	for range 6 {
		mustFail(t, lt, account)
	}
	keys, err := rdb.Keys(context.Background(), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("keys = %q, want a counter and a lock", keys)
	}
	for _, k := range keys {
		if strings.Contains(k, "alice") || strings.Contains(k, "example.com") {
			t.Fatalf("key %q reveals the email", k)
		}
	}
}

func mustFail(t *testing.T, lt *ratelimit.LoginThrottle, keys ...string) int {
	t.Helper()
	n, err := lt.Failure(context.Background(), keys...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustCheck(t *testing.T, lt *ratelimit.LoginThrottle, keys ...string) time.Duration {
	t.Helper()
	wait, err := lt.Check(context.Background(), keys...)
	if err != nil {
		t.Fatal(err)
	}
	return wait
}
