package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Verifier defaults.
const (
	DefaultLeeway        = 30 * time.Second
	DefaultMaxTokenBytes = 4096
)

var defaultAlgorithms = []string{AlgEdDSA, AlgES256}

// Verifier checks tokens: size, algorithm allow-list, kid, signature, typ,
// iss, aud, exp, nbf, iat and the tenantd claims (sub, tid, sid). Called by
// the authentication middleware on every request. It does not check
// revocation: the caller checks the session next. Safe for concurrent use.
//
// An operator API uses its own Verifier with another Audience and Typ, so a
// tenant token is never accepted there and the other way round.
type Verifier struct {
	// Keys returns the current key set (e.g. KeyRing.Keys).
	Keys func() *KeySet
	// Issuer and Audience must match iss and aud; both are required.
	Issuer, Audience string
	// Algorithms is the allow-list; nil means EdDSA and ES256. Only those
	// two can ever verify: keys of any other kind are refused by NewKeySet.
	Algorithms []string
	// Leeway for exp, nbf and iat; zero means DefaultLeeway.
	Leeway time.Duration
	// MaxTokenBytes; zero means DefaultMaxTokenBytes.
	MaxTokenBytes int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Typ is the required typ header; "" means TypAccess. Compared as RFC
	// 7515 §4.1.9 says: case-insensitively, "application/" prefix optional.
	Typ string
}

// Verify returns the claims of token if it is valid now. Every failure wraps
// exactly one sentinel (ErrTooLarge, ErrMalformed, ErrAlgorithm,
// ErrUnknownKey, ErrSignature, ErrType, ErrIssuer, ErrAudience, ErrClaims,
// ErrExpired, ErrNotYetValid), or ErrConfig if v is misconfigured. Error
// messages are for logs; clients get a plain 401.
func (v *Verifier) Verify(token string) (Claims, error) {
	claims, _, err := v.verify(token)
	return claims, err
}

// verify is Verify that also returns the kid of the key that signed token.
func (v *Verifier) verify(token string) (Claims, string, error) {
	maxBytes := v.maxTokenBytes()
	if len(token) > maxBytes {
		return Claims{}, "", fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(token), maxBytes)
	}
	algs, err := v.checkConfig()
	if err != nil {
		return Claims{}, "", err
	}
	keys := v.Keys()
	if keys == nil {
		return Claims{}, "", fmt.Errorf("%w: no key set loaded", ErrConfig)
	}
	now := v.now()
	leeway := v.leeway()
	parser := jwt.NewParser(
		jwt.WithValidMethods(algs),
		jwt.WithIssuer(v.Issuer),
		jwt.WithAudience(v.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithStrictDecoding(),
	)
	lookup := keyLookup{keys: keys, typ: v.typ(), now: now, leeway: leeway}
	var claims Claims
	if _, err := parser.ParseWithClaims(token, &claims, lookup.keyFunc); err != nil {
		return Claims{}, "", classify(err, &lookup, &claims)
	}
	if err := claims.checkComplete(); err != nil {
		return Claims{}, "", err
	}
	return claims, lookup.kid, nil
}

// keyLookup is the jwt.Keyfunc of one Verify call. It runs after the library
// has checked the algorithm against the allow-list and before the signature.
type keyLookup struct {
	keys   *KeySet
	typ    string
	now    time.Time
	leeway time.Duration

	called bool
	err    error  // one of our sentinels, when the keyfunc refused
	kid    string // the key found
}

func (l *keyLookup) keyFunc(t *jwt.Token) (any, error) {
	l.called = true
	k, err := l.find(t)
	if err != nil {
		l.err = err
		return nil, err
	}
	l.kid = k.ID
	return k.Public, nil
}

// find checks the header and returns the key that must have signed t.
func (l *keyLookup) find(t *jwt.Token) (*Key, error) {
	if _, ok := t.Header["crit"]; ok {
		// RFC 7515 §4.1.11: we understand no extension, so must refuse.
		return nil, fmt.Errorf("%w: crit header", ErrMalformed)
	}
	if typ, _ := t.Header["typ"].(string); !sameTyp(typ, l.typ) {
		return nil, fmt.Errorf("%w: want %s", ErrType, l.typ)
	}
	kid, _ := t.Header["kid"].(string)
	k, ok := l.keys.verificationKey(kid, l.now, l.leeway)
	if !ok {
		return nil, ErrUnknownKey // the kid is attacker-controlled: not echoed
	}
	if k.Alg != t.Method.Alg() {
		// e.g. an ES256 key's kid with alg EdDSA, or the reverse.
		return nil, fmt.Errorf("%w: key %s is %s, token says %s", ErrAlgorithm, k.ID, k.Alg, t.Method.Alg())
	}
	return k, nil
}

func sameTyp(got, want string) bool {
	norm := func(s string) string {
		s = strings.ToLower(s)
		return strings.TrimPrefix(s, "application/")
	}
	return got != "" && norm(got) == norm(want)
}

// classify maps a jwt library error onto exactly one of our sentinels.
func classify(err error, l *keyLookup, c *Claims) error {
	var reason error
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		reason = ErrMalformed
	case l.err != nil:
		return l.err
	case !l.called:
		// The library refused before asking for a key: alg missing, unknown
		// (e.g. a made-up name) or not in the allow-list (none, HS256, ...).
		reason = ErrAlgorithm
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		reason = ErrSignature
	case errors.Is(err, jwt.ErrTokenInvalidIssuer),
		errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && c.Issuer == "":
		reason = ErrIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience),
		errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && noAudience(c.Audience):
		reason = ErrAudience
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		reason = ErrClaims // exp
	case errors.Is(err, jwt.ErrTokenExpired):
		reason = ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		reason = ErrNotYetValid
	default:
		reason = ErrClaims
	}
	// %v, not %w: callers match our sentinels, never the library's.
	return fmt.Errorf("%w: %v", reason, err)
}

// noAudience mirrors the library's test for a missing aud claim.
func noAudience(aud jwt.ClaimStrings) bool {
	return len(aud) == 0 || len(aud) == 1 && aud[0] == ""
}

// checkConfig fails closed on a Verifier that would skip a check, and returns
// the algorithm allow-list.
func (v *Verifier) checkConfig() ([]string, error) {
	if v.Keys == nil || v.Issuer == "" || v.Audience == "" {
		// An empty Issuer or Audience would make the library skip the check.
		return nil, fmt.Errorf("%w: Verifier needs Keys, Issuer and Audience", ErrConfig)
	}
	if v.Algorithms == nil {
		return defaultAlgorithms, nil
	}
	for _, a := range v.Algorithms {
		if !slices.Contains(defaultAlgorithms, a) {
			return nil, fmt.Errorf("%w: algorithm %q is not supported", ErrConfig, a)
		}
	}
	if len(v.Algorithms) == 0 {
		return nil, fmt.Errorf("%w: empty algorithm allow-list", ErrConfig)
	}
	return v.Algorithms, nil
}

func (v *Verifier) maxTokenBytes() int {
	if v.MaxTokenBytes <= 0 {
		return DefaultMaxTokenBytes
	}
	return v.MaxTokenBytes
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) leeway() time.Duration {
	if v.Leeway <= 0 {
		return DefaultLeeway
	}
	return v.Leeway
}

func (v *Verifier) typ() string {
	if v.Typ == "" {
		return TypAccess
	}
	return v.Typ
}
