package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

func TestPasswordRoundTrip(t *testing.T) {
	t.Parallel()
	const pw = "correct horse battery"
	encoded, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(encoded) {
		t.Fatalf("hash %q is not PHC argon2id with the OWASP parameters", encoded)
	}
	for _, c := range []struct {
		pw   string
		want bool
	}{{pw, true}, {"correct horse battery ", false}, {"Correct horse battery", false}, {"", false}} {
		ok, err := CheckPassword(encoded, c.pw)
		if err != nil || ok != c.want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", c.pw, ok, err, c.want)
		}
	}
	again, _ := HashPassword(pw)
	if again == encoded {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	if NeedsRehash(encoded) {
		t.Fatal("a fresh hash needs rehashing")
	}
}

// TestCheckPasswordUsesStoredParameters checks a hash made elsewhere with
// other parameters: a checker that ignored the stored ones would fail.
func TestCheckPasswordUsesStoredParameters(t *testing.T) {
	t.Parallel()
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte("hunter2hunter2"), salt, 1, 8*1024, 2, 32)
	encoded := fmt.Sprintf("$argon2id$v=19$m=8192,t=1,p=2$%s$%s",
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	ok, err := CheckPassword(encoded, "hunter2hunter2")
	if err != nil || !ok {
		t.Fatalf("CheckPassword on an m=8192,t=1,p=2 hash = %v, %v", ok, err)
	}
	if !NeedsRehash(encoded) {
		t.Fatal("a hash with weaker parameters does not need rehashing")
	}
}

// TestCheckPasswordRefusesBadHashes is not parallel: it counts argon2 runs.
func TestCheckPasswordRefusesBadHashes(t *testing.T) {
	good, err := HashPassword("a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	runsBefore := argonRuns.Load()
	for name, encoded := range map[string]string{
		"empty":           "",
		"bcrypt":          "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":         with(1, "argon2i"),
		"version 16":      with(2, "v=16"),
		"4 GiB memory":    with(3, "m=4194304,t=2,p=1"),
		"1000 passes":     with(3, "m=19456,t=1000,p=1"),
		"255 threads":     with(3, "m=19456,t=2,p=255"),
		"zero time":       with(3, "m=19456,t=0,p=1"),
		"params reversed": with(3, "t=2,m=19456,p=1"),
		"leading zero":    with(3, "m=019456,t=2,p=1"),
		"salt not base64": with(4, "!!!!"),
		"short key":       with(5, "AAAA"),
		"extra field":     good + "$x",
	} {
		if ok, err := CheckPassword(encoded, "a long enough password"); err == nil || ok {
			t.Errorf("%s: CheckPassword = %v, %v; want an error", name, ok, err)
		}
	}
	// Parameters are checked before any work: a tampered row costs nothing.
	if n := argonRuns.Load() - runsBefore; n != 0 {
		t.Errorf("%d argon2 runs for refused hashes, want 0", n)
	}
}

// TestDummyCheckDoesTheWork is not parallel: it counts argon2 runs.
func TestDummyCheckDoesTheWork(t *testing.T) {
	p, salt, key, err := decodePHC(dummyHash)
	if err != nil {
		t.Fatal(err)
	}
	if p != defaultParams || len(salt) != ArgonSaltBytes || len(key) != ArgonKeyBytes {
		t.Fatalf("dummy hash parameters %+v differ from the real ones %+v", p, defaultParams)
	}
	real, err := HashPassword("some password here")
	if err != nil {
		t.Fatal(err)
	}
	before := argonRuns.Load()
	if _, err := CheckPassword(real, "a guess at the password"); err != nil {
		t.Fatal(err)
	}
	if got := argonRuns.Load() - before; got != 1 {
		t.Fatalf("CheckPassword ran argon2 %d times, want 1", got)
	}
	before = argonRuns.Load()
	DummyCheck("a guess at the password")
	if got := argonRuns.Load() - before; got != 1 {
		t.Fatalf("DummyCheck ran argon2 %d times, want 1 (as CheckPassword does)", got)
	}
	if ok, _ := CheckPassword(dummyHash, ""); ok {
		t.Fatal("the dummy hash matches the empty password")
	}
}

// TestArgonConcurrencyIsBounded is not parallel: it holds every slot.
func TestArgonConcurrencyIsBounded(t *testing.T) {
	// Sized from GOMAXPROCS at start-up (go test -cpu changes it later).
	if cap(argonSlots) < 1 {
		t.Fatal("no argon2 slot")
	}
	for range cap(argonSlots) {
		argonSlots <- struct{}{}
	}
	done := make(chan struct{})
	go func() {
		DummyCheck("password while the slots are taken")
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("argon2 ran while every slot was taken")
	case <-time.After(50 * time.Millisecond):
	}
	<-argonSlots
	<-done
	for range cap(argonSlots) - 1 {
		<-argonSlots
	}
}

func TestValidatePassword(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		pw   string
		want error
	}{
		{"short pass", ErrPasswordTooShort},
		{"elevenchars", ErrPasswordTooShort},
		{"twelve chars", nil},
		{"ÄÖÜäöüßÄÖÜäö", nil}, // 12 characters, 24 bytes
		{"ÄÖÜäöüßÄÖÜä", ErrPasswordTooShort},
		{strings.Repeat("x", MaxPasswordBytes), nil},
		{strings.Repeat("x", MaxPasswordBytes+1), ErrPasswordTooLong},
		{"password1234", ErrPasswordCommon},
		{"PassWord1234", ErrPasswordCommon},
		{"QWERTYUIOP123", ErrPasswordCommon},
		{"correcthorsebatterystaple", ErrPasswordCommon},
		{"Summer2024!!", ErrPasswordCommon},
		{"tr0ub4dor&3 horse", nil},
	} {
		if err := ValidatePassword(c.pw); !errors.Is(err, c.want) {
			t.Errorf("ValidatePassword(%q) = %v, want %v", c.pw, err, c.want)
		}
	}
	if len(commonPasswords) < 200 {
		t.Fatalf("only %d common passwords loaded", len(commonPasswords))
	}
	for _, err := range []error{ErrPasswordTooShort, ErrPasswordTooLong, ErrPasswordCommon} {
		if strings.Contains(err.Error(), "auth") {
			t.Errorf("message %q is meant for users, not developers", err)
		}
	}
}

func TestLongPasswordsAreNotHashed(t *testing.T) {
	t.Parallel()
	if _, err := HashPassword(strings.Repeat("x", MaxPasswordBytes+1)); !errors.Is(err, ErrPasswordTooLong) {
		t.Fatalf("HashPassword of an over-long password = %v", err)
	}
	encoded, err := HashPassword(strings.Repeat("x", MaxPasswordBytes))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := CheckPassword(encoded, strings.Repeat("x", MaxPasswordBytes+1)); ok || err != nil {
		t.Fatalf("over-long password: %v, %v", ok, err)
	}
}
