package auth

import (
	"crypto/sha256"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// DefaultCacheEntries is the size of a CachingVerifier when none is given.
const DefaultCacheEntries = 10_000

// CachingVerifier remembers tokens that verified, so a client sending the
// same token on every request pays for one signature check, not one per
// request. It caches signature and claims verification only: the caller
// still checks the session on every request (revocation is not cached
// here). Safe for concurrent use.
//
// An entry is keyed by the SHA-256 of the token (the token itself is not
// kept), is never returned at or after the token's exp, and is dropped as
// soon as the key that signed the token leaves the key set (e.g. removed
// after a compromise). When full, a random entry is evicted.
type CachingVerifier struct {
	v   *Verifier
	max int

	mu      sync.RWMutex
	entries map[[sha256.Size]byte]cacheEntry

	hits, misses, evictions atomic.Uint64
}

// cacheEntry is a token's claims in about a third of the memory of a
// Claims (a server keeps one per live session): the three ids and the
// jti as UUIDs, the times as Unix nanoseconds, the issuer and audience
// left out (they are the verifier's own, checked), the kid shared with
// the key set. Claims that do not come back exactly from this form (a
// jti that is not a UUID, another audience beside ours) are kept whole.
type cacheEntry struct {
	sub, tid, sid, jti uuid.UUID
	exp, nbf, iat      int64
	kid                string
	whole              *Claims
}

// compact returns claims as a cache entry.
func (c *CachingVerifier) compact(claims Claims, kid string) cacheEntry {
	e := cacheEntry{tid: claims.TenantID, sid: claims.SessionID, exp: claims.ExpiresAt.UnixNano(), kid: kid}
	if k, ok := c.v.Keys().verificationKey(kid, c.v.now(), c.v.leeway()); ok {
		e.kid = k.ID // one copy of the string for every token the key signed
	}
	var err1, err2 error
	e.sub, err1 = uuid.Parse(claims.Subject)
	e.jti, err2 = uuid.Parse(claims.ID)
	if claims.NotBefore != nil {
		e.nbf = claims.NotBefore.UnixNano()
	}
	if claims.IssuedAt != nil {
		e.iat = claims.IssuedAt.UnixNano()
	}
	if err1 != nil || err2 != nil || claims.NotBefore == nil || claims.IssuedAt == nil ||
		!reflect.DeepEqual(c.claims(e), claims) {
		whole := claims.clone()
		return cacheEntry{exp: e.exp, kid: e.kid, whole: &whole}
	}
	return e
}

// claims returns the entry's claims, a copy the caller may change.
func (c *CachingVerifier) claims(e cacheEntry) Claims {
	if e.whole != nil {
		return e.whole.clone()
	}
	date := func(ns int64) *jwt.NumericDate { return jwt.NewNumericDate(time.Unix(0, ns)) }
	return Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: c.v.Issuer, Subject: e.sub.String(), Audience: jwt.ClaimStrings{c.v.Audience},
		ExpiresAt: date(e.exp), NotBefore: date(e.nbf), IssuedAt: date(e.iat), ID: e.jti.String(),
	}, TenantID: e.tid, SessionID: e.sid}
}

// NewCachingVerifier wraps v with a cache of at most max tokens (0 means
// DefaultCacheEntries). v must not be changed afterwards.
func NewCachingVerifier(v *Verifier, max int) *CachingVerifier {
	if max <= 0 {
		max = DefaultCacheEntries
	}
	return &CachingVerifier{v: v, max: max, entries: make(map[[sha256.Size]byte]cacheEntry)}
}

// Verify is [Verifier.Verify] with a cache; it returns the same claims and
// the same errors (failures are not cached).
func (c *CachingVerifier) Verify(token string) (Claims, error) {
	if len(token) > c.v.maxTokenBytes() {
		return c.v.Verify(token) // refused before hashing anything
	}
	sum := sha256.Sum256([]byte(token))
	now := c.v.now()

	c.mu.RLock()
	e, hit := c.entries[sum]
	c.mu.RUnlock()
	if hit && now.UnixNano() < e.exp && c.keyStillThere(e.kid, now) {
		c.hits.Add(1)
		return c.claims(e), nil
	}
	c.misses.Add(1)

	claims, kid, err := c.v.verify(token)
	if err != nil || !now.Before(claims.ExpiresAt.Time) {
		// Not cacheable: invalid, or valid only thanks to the leeway.
		if hit {
			c.mu.Lock()
			delete(c.entries, sum)
			c.mu.Unlock()
		}
		return claims, err
	}
	entry := c.compact(claims, kid)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, present := c.entries[sum]; !present && len(c.entries) >= c.max {
		for k := range c.entries { // map order is randomised: a random victim
			delete(c.entries, k)
			c.evictions.Add(1)
			break
		}
	}
	c.entries[sum] = entry
	return claims, nil
}

func (c *CachingVerifier) keyStillThere(kid string, now time.Time) bool {
	_, ok := c.v.Keys().verificationKey(kid, now, c.v.leeway())
	return ok
}

// CacheStats is what a CachingVerifier holds and did, for metrics.
type CacheStats struct {
	Entries, Max            int
	Hits, Misses, Evictions uint64
}

// Stats returns the cache's size, bound and counts.
func (c *CachingVerifier) Stats() CacheStats {
	return CacheStats{Entries: c.len(), Max: c.max, Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evictions.Load()}
}

// len returns the number of cached tokens.
func (c *CachingVerifier) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
