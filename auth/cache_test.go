package auth

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestCacheNeverReturnsAnEntryPastExp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.verifier.Leeway = time.Millisecond // so only the cache could accept a token past exp
	cv := NewCachingVerifier(e.verifier, 0)
	token, _, err := e.issuer.Issue(uuid.New(), uuid.New(), uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := cv.Verify(token); err != nil {
			t.Fatal(err)
		}
	}
	if cv.len() != 1 {
		t.Fatalf("cache holds %d entries, want 1", cv.len())
	}
	e.now = e.now.Add(DefaultTTL + time.Second)
	_, err = cv.Verify(token)
	requireOnly(t, err, ErrExpired)
	if cv.len() != 0 {
		t.Fatal("expired entry still cached")
	}
}

func TestCacheWithinLeewayAgreesWithVerifier(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cv := NewCachingVerifier(e.verifier, 0)
	token, _, err := e.issuer.Issue(uuid.New(), uuid.New(), uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cv.Verify(token); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(DefaultTTL + time.Second) // past exp, within the leeway
	if _, err := cv.Verify(token); err != nil {
		t.Fatalf("within the leeway the uncached verifier accepts, the cache must too: %v", err)
	}
	if cv.len() != 0 {
		t.Fatal("an entry past its exp went back into the cache")
	}
}

func TestCacheDropsTokensOfARemovedKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cv := NewCachingVerifier(e.verifier, 0)
	token, _, err := e.issuer.Issue(uuid.New(), uuid.New(), uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cv.Verify(token); err != nil {
		t.Fatal(err)
	}
	// The signing key is pulled (say, after a compromise).
	next := mustKey(t, AlgEdDSA, e.now)
	next.Active = true
	e.set = mustSet(t, next)
	_, err = cv.Verify(token)
	requireOnly(t, err, ErrUnknownKey)
}

func TestCacheIsBoundedAndReturnsCopies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cv := NewCachingVerifier(e.verifier, 3)
	tenant := uuid.New()
	var tokens []string
	for range 10 {
		token, _, err := e.issuer.Issue(uuid.New(), tenant, uuid.New())
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, token)
		if _, err := cv.Verify(token); err != nil {
			t.Fatal(err)
		}
		if cv.len() > 3 {
			t.Fatalf("cache grew to %d entries, limit 3", cv.len())
		}
	}
	last := tokens[len(tokens)-1]
	c, err := cv.Verify(last) // cached: it was added last
	if err != nil {
		t.Fatal(err)
	}
	c.Audience[0] = "changed"
	c.ExpiresAt.Time = c.ExpiresAt.Add(time.Hour)
	again, err := cv.Verify(last)
	if err != nil {
		t.Fatal(err)
	}
	if again.Audience[0] != testAudience || !again.ExpiresAt.Equal(e.now.Add(DefaultTTL)) {
		t.Fatal("a caller changed the cached claims through the returned copy")
	}
	if _, err := cv.Verify("garbage"); err == nil {
		t.Fatal("cache accepted garbage")
	}
	_, err = cv.Verify(last + last)
	requireOnly(t, err, ErrMalformed)
}

// TestCacheConcurrent runs many verifications on a small cache (so entries
// are evicted all the time) while the key set is replaced. Run with -race.
func TestCacheConcurrent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var set atomic.Pointer[KeySet]
	set.Store(e.set)
	v := *e.verifier
	v.Keys = set.Load
	cv := NewCachingVerifier(&v, 4)

	type issued struct {
		token  string
		tenant uuid.UUID
	}
	var tokens []issued
	for range 8 {
		tenant := uuid.New()
		token, _, err := e.issuer.Issue(uuid.New(), tenant, uuid.New())
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, issued{token, tenant})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				tok := tokens[(g+i)%len(tokens)]
				c, err := cv.Verify(tok.token)
				if err != nil {
					errs <- err
					return
				}
				if c.TenantID != tok.tenant {
					errs <- fmt.Errorf("token of tenant %s verified as tenant %s", tok.tenant, c.TenantID)
					return
				}
			}
		})
	}
	snapshots := []*KeySet{mustSet(t, e.ed, e.es), mustSet(t, e.es, e.ed)} // same keys, new snapshots
	wg.Go(func() {
		for i := range 100 {
			set.Store(snapshots[i%2])
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// A cached token's claims are the verifier's, exactly: from the compact
// form the cache keeps, and from the whole claims it keeps when the
// compact form cannot hold them (a jti that is not a UUID).
func TestCacheReturnsTheVerifiedClaims(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cv := NewCachingVerifier(e.verifier, 10)
	token, _, err := e.issuer.Issue(uuid.New(), uuid.New(), uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	claims := e.claims()
	claims["jti"] = "not-a-uuid"
	odd := sign(t, e.ed, e.header(e.ed), claims)
	for name, tok := range map[string]string{"compact": token, "whole": odd} {
		want, err := e.verifier.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // a miss, then a hit
			got, err := cv.Verify(tok)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("%s: cached claims %+v, %v; want %+v", name, got, err, want)
			}
		}
	}
	if e := cv.entries[sha256.Sum256([]byte(token))]; e.whole != nil {
		t.Errorf("an ordinary token's claims were kept whole")
	}
}
