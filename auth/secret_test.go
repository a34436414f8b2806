package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"testing"
)

func TestSecrets(t *testing.T) {
	t.Parallel()
	a, b := NewSecret(), NewSecret()
	raw, err := base64.RawURLEncoding.DecodeString(a)
	if err != nil || len(raw) != 32 {
		t.Fatalf("secret %q is not base64url of 32 bytes", a)
	}
	if a == b {
		t.Fatal("two secrets are equal")
	}
	h := HashSecret(a)
	if want := sha256.Sum256([]byte(a)); string(h) != string(want[:]) {
		t.Fatal("HashSecret is not SHA-256 of the secret")
	}
	if !CheckSecret(a, h) || CheckSecret(b, h) || CheckSecret(a, h[:31]) {
		t.Fatal("CheckSecret matches the wrong secret or hash")
	}
}
