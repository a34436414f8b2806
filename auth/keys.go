package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"time"
)

// Signing algorithms (JWS "alg" values). EdDSA is the default.
const (
	AlgEdDSA = "EdDSA" // Ed25519
	AlgES256 = "ES256" // ECDSA on P-256 with SHA-256
)

// Key is one signing key. Keys rotate: exactly one Active key signs, the
// others only verify until the tokens they signed have expired.
type Key struct {
	// ID is the JWS "kid": URL-safe base64 of 16 random bytes, never
	// derived from user input.
	ID string
	// Alg is AlgEdDSA or AlgES256.
	Alg string
	// Public is ed25519.PublicKey for EdDSA, *ecdsa.PublicKey (P-256) for ES256.
	Public crypto.PublicKey
	// Private is nil for verify-only keys. For ES256 it must be an
	// *ecdsa.PrivateKey (what the JWT library signs with).
	Private   crypto.Signer
	CreatedAt time.Time
	// NotAfter is zero while the key is in use. A retired key gets
	// NotAfter = retirement + token lifetime: after it, every token the key
	// signed has expired, so it leaves the JWKS and verifies nothing.
	NotAfter time.Time
	// Active marks the one key that signs.
	Active bool
}

// GenerateKey makes a new, inactive key with a random kid. alg "" means
// AlgEdDSA. Called by [KeyRing] and by tests.
func GenerateKey(alg string, now time.Time) (Key, error) {
	if alg == "" {
		alg = AlgEdDSA
	}
	var k Key
	switch alg {
	case AlgEdDSA:
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return Key{}, err
		}
		k.Public, k.Private = pub, priv
	case AlgES256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return Key{}, err
		}
		k.Public, k.Private = &priv.PublicKey, priv
	default:
		return Key{}, fmt.Errorf("%w: unsupported key algorithm %q", ErrConfig, alg)
	}
	k.ID = newKID()
	k.Alg = alg
	k.CreatedAt = now
	return k, nil
}

func newKID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// MarshalPublicKey returns k's public key as PKIX DER, the form it is stored in.
func MarshalPublicKey(k Key) ([]byte, error) {
	if err := checkPublic(k.Alg, k.Public); err != nil {
		return nil, err
	}
	return x509.MarshalPKIXPublicKey(k.Public)
}

// ParsePublicKey parses a PKIX DER public key and checks that it is the kind
// of key alg needs.
func ParsePublicKey(alg string, der []byte) (crypto.PublicKey, error) {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("auth: parse public key: %w", err)
	}
	if err := checkPublic(alg, pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// checkPublic reports whether pub is the key type alg signs with.
func checkPublic(alg string, pub crypto.PublicKey) error {
	switch alg {
	case AlgEdDSA:
		if p, ok := pub.(ed25519.PublicKey); ok && len(p) == ed25519.PublicKeySize {
			return nil
		}
	case AlgES256:
		if p, ok := pub.(*ecdsa.PublicKey); ok && p.Curve == elliptic.P256() {
			return nil
		}
	default:
		return fmt.Errorf("%w: unsupported key algorithm %q", ErrConfig, alg)
	}
	return fmt.Errorf("%w: public key is %T, not a %s key", ErrConfig, pub, alg)
}

// checkPrivate reports whether priv is the private half of pub. Called
// with a pub that already passed checkPublic.
func checkPrivate(alg string, pub crypto.PublicKey, priv crypto.Signer) error {
	if _, ok := priv.(*ecdsa.PrivateKey); alg == AlgES256 && !ok {
		// The JWT library signs ES256 only with *ecdsa.PrivateKey.
		return fmt.Errorf("%w: ES256 private key is %T, not *ecdsa.PrivateKey", ErrConfig, priv)
	}
	// Both ed25519.PublicKey and *ecdsa.PublicKey have Equal, which also
	// rejects a key of the other type.
	half, ok := priv.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !half.Equal(pub) {
		return fmt.Errorf("%w: private key does not match its public key", ErrConfig)
	}
	return nil
}
