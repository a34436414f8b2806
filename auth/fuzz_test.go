package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// fuzzEnv is an env with fixed keys and clock, so the seed corpus stays
// valid from one run to the next.
func fuzzEnv(t testing.TB) *env {
	t.Helper()
	now := time.Unix(1_900_000_000, 0)
	edSeed := sha256.Sum256([]byte("tenantd fuzz ed25519"))
	edPriv := ed25519.NewKeyFromSeed(edSeed[:])
	esRaw := sha256.Sum256([]byte("tenantd fuzz p256"))
	esPriv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), esRaw[:])
	if err != nil {
		t.Fatal(err)
	}
	e := &env{
		now: now,
		ed:  Key{ID: "fuzz-ed", Alg: AlgEdDSA, Public: edPriv.Public(), Private: edPriv, CreatedAt: now, Active: true},
		es:  Key{ID: "fuzz-es", Alg: AlgES256, Public: &esPriv.PublicKey, Private: esPriv, CreatedAt: now},
	}
	e.set = mustSet(t, e.ed, e.es)
	keys := func() *KeySet { return e.set }
	clock := func() time.Time { return e.now }
	e.issuer = &Issuer{Keys: keys, Issuer: testIssuer, Audience: testAudience, Now: clock}
	e.verifier = &Verifier{Keys: keys, Issuer: testIssuer, Audience: testAudience, Now: clock}
	return e
}

func fuzzSeeds(t testing.TB, e *env) []string {
	fixed := func(changes map[string]any) map[string]any {
		c := e.claims()
		c["sub"], c["tid"], c["sid"], c["jti"] = "6f1c1f4e-3f7e-4a8e-9a4b-1d2c3b4a5f60",
			"0b7e5b0e-8a8c-4f55-9c63-7b2f3d1e9a11", "a4e1c2d3-5b6f-4a7e-8c9d-0e1f2a3b4c5d", "fixed"
		for k, v := range changes {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	hdr := func(k Key, name string, v any) map[string]any {
		h := e.header(k)
		h[name] = v
		return h
	}
	valid := sign(t, e.ed, e.header(e.ed), fixed(nil))
	pub := []byte(e.ed.Public.(ed25519.PublicKey))
	return []string{
		valid,
		sign(t, e.es, e.header(e.es), fixed(nil)),
		signingInput(t, hdr(e.ed, "alg", "none"), fixed(nil)) + ".",
		signWith(t, jwt.SigningMethodHS256, pub, hdr(e.ed, "alg", "HS256"), fixed(nil)),
		signWith(t, jwt.SigningMethodES256, e.es.Private, hdr(e.es, "alg", AlgEdDSA), fixed(nil)),
		sign(t, e.ed, hdr(e.ed, "kid", "../../etc/passwd"), fixed(nil)),
		sign(t, e.ed, hdr(e.ed, "kid", "' OR 1=1--"), fixed(nil)),
		sign(t, e.ed, hdr(e.ed, "typ", "JWT"), fixed(nil)),
		sign(t, e.ed, hdr(e.ed, "crit", []string{"b64"}), fixed(nil)),
		sign(t, e.ed, e.header(e.ed), fixed(map[string]any{"exp": e.now.Add(-time.Hour).Unix()})),
		sign(t, e.ed, e.header(e.ed), fixed(map[string]any{"nbf": e.now.Add(time.Hour).Unix()})),
		sign(t, e.ed, e.header(e.ed), fixed(map[string]any{"iss": "evil"})),
		sign(t, e.ed, e.header(e.ed), fixed(map[string]any{"aud": "other"})),
		sign(t, e.ed, e.header(e.ed), fixed(map[string]any{"tid": nil})),
		sign(t, e.ed, e.header(e.ed), fixed(map[string]any{"exp": 1e300})),
		sign(t, e.ed, e.header(e.ed), fixed(map[string]any{"aud": []any{testAudience, 1}})),
		valid[:len(valid)-10],
		valid[:strings.IndexByte(valid, '.')],
		"garbage",
		"..",
		strings.Repeat("A", 5000),
	}
}

// FuzzVerify: Verify never panics; a refusal wraps exactly one sentinel and
// returns no claims; an acceptance has complete claims and a signature that
// the standard library confirms was made by a key in the set. The caching
// verifier agrees with the plain one.
func FuzzVerify(f *testing.F) {
	e := fuzzEnv(f)
	for _, s := range fuzzSeeds(f, e) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		claims, err := e.verifier.Verify(token)
		_, cachedErr := NewCachingVerifier(e.verifier, 4).Verify(token)
		if (err == nil) != (cachedErr == nil) {
			t.Fatalf("verifier: %v, caching verifier: %v", err, cachedErr)
		}
		if err != nil {
			n := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error %v wraps %d sentinels, want exactly 1", err, n)
			}
			if claims.Subject != "" || claims.TenantID != uuid.Nil || claims.ExpiresAt != nil {
				t.Fatalf("claims returned with error %v", err)
			}
			return
		}
		if err := claims.checkComplete(); err != nil {
			t.Fatalf("accepted incomplete claims: %v", err)
		}
		if claims.Issuer != testIssuer || !claims.ExpiresAt.After(e.now.Add(-DefaultLeeway)) {
			t.Fatalf("accepted iss %q exp %v", claims.Issuer, claims.ExpiresAt)
		}
		h := tokenHeader(t, token)
		kid, _ := h["kid"].(string)
		k, ok := e.set.byID[kid]
		if !ok || h["alg"] != k.Alg {
			t.Fatalf("accepted a token with kid %v alg %v", h["kid"], h["alg"])
		}
		if !verifyIndependently(token, k.Alg, k.Public) {
			t.Fatal("accepted a token whose signature the standard library refuses")
		}
	})
}

// TestFuzzSeeds keeps the seed corpus meaningful: the two valid tokens are
// accepted (so the fuzzer exercises the acceptance checks) and every hostile
// one is refused.
func TestFuzzSeeds(t *testing.T) {
	t.Parallel()
	e := fuzzEnv(t)
	for i, token := range fuzzSeeds(t, e) {
		_, err := e.verifier.Verify(token)
		if valid := i < 2; valid != (err == nil) {
			t.Errorf("seed %d: err = %v", i, err)
		}
	}
}
