package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

const (
	testIssuer   = "https://tenantd.test"
	testAudience = "tenantd-api"
)

// sentinels lists every rejection reason; a Verify error wraps exactly one.
var sentinels = []error{ErrTooLarge, ErrMalformed, ErrAlgorithm, ErrUnknownKey, ErrSignature,
	ErrExpired, ErrNotYetValid, ErrIssuer, ErrAudience, ErrType, ErrClaims, ErrConfig}

// requireOnly fails unless err wraps want and no other sentinel.
func requireOnly(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
	for _, s := range sentinels {
		if s != want && errors.Is(err, s) {
			t.Fatalf("error %v wraps %v as well as %v", err, s, want)
		}
	}
}

// env is a key set with an active Ed25519 key and a verify-only P-256 key,
// an Issuer and a Verifier on a fixed clock.
type env struct {
	ed, es   Key
	set      *KeySet
	now      time.Time
	issuer   *Issuer
	verifier *Verifier
}

func newEnv(t testing.TB) *env {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	e := &env{now: now, ed: mustKey(t, AlgEdDSA, now), es: mustKey(t, AlgES256, now)}
	e.ed.Active = true
	e.set = mustSet(t, e.ed, e.es)
	keys := func() *KeySet { return e.set }
	clock := func() time.Time { return e.now }
	e.issuer = &Issuer{Keys: keys, Issuer: testIssuer, Audience: testAudience, Now: clock}
	e.verifier = &Verifier{Keys: keys, Issuer: testIssuer, Audience: testAudience, Now: clock}
	return e
}

func mustKey(t testing.TB, alg string, now time.Time) Key {
	t.Helper()
	k, err := GenerateKey(alg, now)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSet(t testing.TB, keys ...Key) *KeySet {
	t.Helper()
	s, err := NewKeySet(keys)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// header returns a valid header for a token signed by k.
func (e *env) header(k Key) map[string]any {
	return map[string]any{"alg": k.Alg, "kid": k.ID, "typ": TypAccess}
}

// claims returns valid claims as a plain map, so tests can drop or change any.
func (e *env) claims() map[string]any {
	return map[string]any{
		"iss": testIssuer,
		"aud": []string{testAudience},
		"sub": uuid.NewString(),
		"tid": uuid.NewString(),
		"sid": uuid.NewString(),
		"iat": e.now.Unix(),
		"nbf": e.now.Unix(),
		"exp": e.now.Add(10 * time.Minute).Unix(),
		"jti": uuid.NewString(),
	}
}

// signingInput encodes header and claims as JWS does.
func signingInput(t testing.TB, header, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(claims)
}

// signWith builds a token whose signature is made by method with key,
// whatever the header says.
func signWith(t testing.TB, method jwt.SigningMethod, key any, header, claims map[string]any) string {
	t.Helper()
	input := signingInput(t, header, claims)
	sig, err := method.Sign(input, key)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// sign builds a token signed by k with the algorithm k is meant for.
func sign(t testing.TB, k Key, header, claims map[string]any) string {
	t.Helper()
	return signWith(t, signingMethod(k.Alg), k.Private, header, claims)
}

// verifyIndependently checks a token's signature with the standard library
// only, as a client in another language would: no jwt library involved.
func verifyIndependently(token string, alg string, pub crypto.PublicKey) bool {
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return false
	}
	input := token[:i]
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil {
		return false
	}
	switch alg {
	case AlgEdDSA:
		p, ok := pub.(ed25519.PublicKey)
		return ok && ed25519.Verify(p, []byte(input), sig)
	case AlgES256:
		p, ok := pub.(*ecdsa.PublicKey)
		if !ok || len(sig) != 64 || p.Curve != elliptic.P256() {
			return false
		}
		h := sha256.Sum256([]byte(input))
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(p, h[:], r, s)
	}
	return false
}

// tokenHeader decodes a token's header without verifying anything.
func tokenHeader(t testing.TB, token string) map[string]any {
	t.Helper()
	seg, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
