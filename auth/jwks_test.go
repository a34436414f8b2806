package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
)

// parseJWKS rebuilds public keys from JWKS JSON with the standard library
// only, as a client in another language would.
func parseJWKS(t *testing.T, doc []byte) map[string]crypto.PublicKey {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatalf("JWKS is not JSON: %v\n%s", err, doc)
	}
	keys := map[string]crypto.PublicKey{}
	for _, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "k"} {
			if _, ok := k[private]; ok {
				t.Fatalf("JWKS key %s has private member %q", k["kid"], private)
			}
		}
		if k["use"] != "sig" {
			t.Fatalf("key %s: use = %q, want sig", k["kid"], k["use"])
		}
		x, err := base64.RawURLEncoding.DecodeString(k["x"])
		if err != nil || len(x) != 32 {
			t.Fatalf("key %s: x is not base64url of 32 bytes", k["kid"])
		}
		switch {
		case k["kty"] == "OKP" && k["crv"] == "Ed25519" && k["alg"] == AlgEdDSA:
			keys[k["kid"]] = ed25519.PublicKey(x)
		case k["kty"] == "EC" && k["crv"] == "P-256" && k["alg"] == AlgES256:
			y, err := base64.RawURLEncoding.DecodeString(k["y"])
			if err != nil || len(y) != 32 {
				t.Fatalf("key %s: y is not base64url of 32 bytes", k["kid"])
			}
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), slices.Concat([]byte{4}, x, y))
			if err != nil {
				t.Fatalf("key %s: not a P-256 point: %v", k["kid"], err)
			}
			keys[k["kid"]] = pub
		default:
			t.Fatalf("unexpected JWK %v", k)
		}
	}
	return keys
}

func TestJWKSRebuildsKeysThatVerifyTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, signer := range []Key{e.ed, e.es} {
		signer.Active = true
		other := e.es
		if signer.Alg == AlgES256 {
			other = e.ed
		}
		other.Active = false
		e.set = mustSet(t, signer, other)
		token, _, err := e.issuer.Issue(uuid.New(), uuid.New(), uuid.New())
		if err != nil {
			t.Fatal(err)
		}
		keys := parseJWKS(t, e.set.JWKS())
		if len(keys) != 2 {
			t.Fatalf("JWKS has %d keys, want 2", len(keys))
		}
		pub, ok := keys[signer.ID]
		if !ok {
			t.Fatalf("JWKS lacks the signing key %s", signer.ID)
		}
		if !verifyIndependently(token, signer.Alg, pub) {
			t.Fatalf("%s token does not verify with the key rebuilt from the JWKS", signer.Alg)
		}
		if verifyIndependently(token, other.Alg, keys[other.ID]) {
			t.Fatal("token verifies with the other key too")
		}
	}
}

func TestJWKSLeavesOutRetiredKeys(t *testing.T) {
	t.Parallel()
	now := time.Now()
	current, retiring, retired := mustKey(t, AlgEdDSA, now), mustKey(t, AlgES256, now), mustKey(t, AlgEdDSA, now)
	current.Active = true
	retiring.NotAfter = now.Add(time.Hour)
	retired.NotAfter = now.Add(-time.Second)
	keys := parseJWKS(t, mustSet(t, current, retiring, retired).JWKS())
	if _, ok := keys[retired.ID]; ok || len(keys) != 2 {
		t.Fatalf("JWKS keys %v: want %s and %s only", keys, current.ID, retiring.ID)
	}
	if got := string(mustSet(t).JWKS()); got != `{"keys":[]}` {
		t.Fatalf("empty set JWKS = %s", got)
	}
}

// TestRotation follows a key through its life: it signs, it is replaced but
// still verifies what it signed, and once removed it verifies nothing.
func TestRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	old := e.ed
	oldToken, _, err := e.issuer.Issue(uuid.New(), uuid.New(), uuid.New())
	if err != nil {
		t.Fatal(err)
	}

	// Rotate: a new key signs; the old one verifies until its tokens expire.
	e.now = e.now.Add(time.Minute)
	next := mustKey(t, AlgEdDSA, e.now)
	next.Active = true
	old.Active, old.NotAfter = false, e.now.Add(DefaultTTL)
	e.set = mustSet(t, next, old)

	if _, err := e.verifier.Verify(oldToken); err != nil {
		t.Fatalf("token of the old key, which is still in the set: %v", err)
	}
	newToken, _, err := e.issuer.Issue(uuid.New(), uuid.New(), uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	if kid := tokenHeader(t, newToken)["kid"]; kid != next.ID {
		t.Fatalf("new token has kid %v, want the new key %s", kid, next.ID)
	}
	if _, err := e.verifier.Verify(newToken); err != nil {
		t.Fatal(err)
	}
	keys := parseJWKS(t, e.set.JWKS())
	if _, ok := keys[old.ID]; !ok || len(keys) != 2 {
		t.Fatalf("JWKS during rotation has %d keys, want old and new", len(keys))
	}

	// The old key is removed from the set.
	e.set = mustSet(t, next)
	_, err = e.verifier.Verify(oldToken)
	requireOnly(t, err, ErrUnknownKey)
	if keys := parseJWKS(t, e.set.JWKS()); len(keys) != 1 || keys[next.ID] == nil {
		t.Fatalf("JWKS after removal: %v, want only %s", keys, next.ID)
	}

	// A retired key still in the set stops verifying after its NotAfter
	// (plus leeway), even for a token that claims a later exp.
	long := e.claims()
	long["exp"] = e.now.Add(24 * time.Hour).Unix()
	e.set = mustSet(t, next, Key{ID: old.ID, Alg: old.Alg, Public: old.Public, NotAfter: old.NotAfter})
	lateToken := sign(t, e.ed, e.header(old), long) // e.ed is the old key with its private part
	e.now = old.NotAfter.Add(DefaultLeeway + time.Second)
	_, err = e.verifier.Verify(lateToken)
	requireOnly(t, err, ErrUnknownKey)
}
