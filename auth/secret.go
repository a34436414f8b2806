package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// NewSecret returns 32 random bytes as unpadded base64url: an opaque secret
// for refresh tokens, invitations and the like. Give it to the client once;
// store only [HashSecret] of it.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashSecret returns the SHA-256 of a secret made by NewSecret, the form
// it is stored and looked up in. A fast hash is right here, unlike for
// passwords: the secret has 256 bits of entropy, so it cannot be guessed
// from its hash.
func HashSecret(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// CheckSecret reports, in constant time, whether secret hashes to hash.
func CheckSecret(secret string, hash []byte) bool {
	return subtle.ConstantTimeCompare(HashSecret(secret), hash) == 1
}
