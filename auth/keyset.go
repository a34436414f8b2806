package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// KeySet is an immutable snapshot of the signing keys: the one active key
// that signs and the keys that still verify. Keys are found by kid in a map;
// a kid from a token is never used for anything else.
//
// A new snapshot replaces the old one on rotation; holders of the old one
// (e.g. a request in flight) keep a consistent view.
type KeySet struct {
	keys   []Key
	byID   map[string]*Key
	active *Key
}

// NewKeySet checks keys and builds a snapshot. Every key needs a unique,
// non-empty ID, a supported Alg and a Public key of that Alg; a Private part,
// when present, must match Public. At most one key may be Active, and it must
// have its Private part. A set without an active key only verifies:
// [Issuer.Issue] fails with ErrNoSigningKey.
func NewKeySet(keys []Key) (*KeySet, error) {
	s := &KeySet{keys: append([]Key(nil), keys...), byID: make(map[string]*Key, len(keys))}
	for i := range s.keys {
		k := &s.keys[i]
		if k.ID == "" {
			return nil, fmt.Errorf("%w: key without ID", ErrConfig)
		}
		if _, dup := s.byID[k.ID]; dup {
			return nil, fmt.Errorf("%w: duplicate key ID %s", ErrConfig, k.ID)
		}
		if err := checkPublic(k.Alg, k.Public); err != nil {
			return nil, fmt.Errorf("key %s: %w", k.ID, err)
		}
		if k.Private != nil {
			if err := checkPrivate(k.Alg, k.Public, k.Private); err != nil {
				return nil, fmt.Errorf("key %s: %w", k.ID, err)
			}
		}
		if k.Active {
			if s.active != nil {
				return nil, fmt.Errorf("%w: two active keys (%s, %s)", ErrConfig, s.active.ID, k.ID)
			}
			if k.Private == nil {
				return nil, fmt.Errorf("%w: active key %s has no private part", ErrConfig, k.ID)
			}
			s.active = k
		}
		s.byID[k.ID] = k
	}
	return s, nil
}

// ActiveKID returns the kid of the signing key, "" if there is none.
func (s *KeySet) ActiveKID() string {
	if s == nil || s.active == nil {
		return ""
	}
	return s.active.ID
}

// verificationKey returns the key with this kid if it may verify a token at
// now: a retired key verifies until its NotAfter (plus leeway, matching the
// leeway granted to the tokens' exp).
func (s *KeySet) verificationKey(kid string, now time.Time, leeway time.Duration) (*Key, bool) {
	if s == nil {
		return nil, false
	}
	k, ok := s.byID[kid]
	if !ok || !(k.NotAfter.IsZero() || now.Before(k.NotAfter.Add(leeway))) {
		return nil, false
	}
	return k, true
}

// jwk is one RFC 7517 / RFC 8037 public key.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS returns the RFC 7517 JSON Web Key Set of the public keys whose
// NotAfter is zero or in the future, for GET /.well-known/jwks.json. It never
// contains private parts.
func (s *KeySet) JWKS() []byte {
	return s.jwksAt(time.Now())
}

func (s *KeySet) jwksAt(now time.Time) []byte {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	if s != nil {
		for _, k := range s.keys {
			if !k.NotAfter.IsZero() && !now.Before(k.NotAfter) {
				continue
			}
			set.Keys = append(set.Keys, publicJWK(k))
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	return b
}

func publicJWK(k Key) jwk {
	b64 := base64.RawURLEncoding.EncodeToString
	j := jwk{Kid: k.ID, Alg: k.Alg, Use: "sig"}
	switch pub := k.Public.(type) {
	case ed25519.PublicKey:
		j.Kty, j.Crv, j.X = "OKP", "Ed25519", b64(pub)
	case *ecdsa.PublicKey:
		// Uncompressed point: 0x04 | X (32 bytes) | Y (32 bytes), already
		// padded to the field size as RFC 7518 §6.2.1.2 requires.
		point, err := pub.Bytes()
		if err != nil {
			panic(err) // checked by NewKeySet
		}
		size := (len(point) - 1) / 2
		j.Kty, j.Crv, j.X, j.Y = "EC", "P-256", b64(point[1:1+size]), b64(point[1+size:])
	}
	return j
}
