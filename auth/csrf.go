package auth

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"github.com/google/uuid"
)

// CSRFTokens makes and checks the console's CSRF tokens. A token is the
// HMAC-SHA256 of one session's id under a key derived from the master key
// (HKDF), so it is good for that session only: a token taken from another
// session, or made up, fails, even when the csrf cookie repeats it. Every
// instance accepts every other's tokens, and nothing is stored.
type CSRFTokens struct {
	key []byte
}

// NewCSRFTokens derives the CSRF key from the master key.
func NewCSRFTokens(master []byte) (*CSRFTokens, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("%w: master key is %d bytes, want %d", ErrConfig, len(master), MasterKeySize)
	}
	key, err := hkdf.Key(sha256.New, master, nil, "tenantd csrf v1", 32)
	if err != nil {
		return nil, err
	}
	return &CSRFTokens{key: key}, nil
}

// Token returns the CSRF token of a session.
func (c *CSRFTokens) Token(session uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString(c.mac(session))
}

// Check reports, in constant time, whether token is the session's.
func (c *CSRFTokens) Check(session uuid.UUID, token string) bool {
	got, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil && hmac.Equal(got, c.mac(session))
}

func (c *CSRFTokens) mac(session uuid.UUID) []byte {
	h := hmac.New(sha256.New, c.key)
	h.Write(session[:])
	return h.Sum(nil)
}
