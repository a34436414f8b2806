package auth

import (
	"fmt"
	"slices"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Token types (the JWS "typ" header). Access tokens and operator tokens have
// different types and audiences, so one can never be used as the other.
const (
	TypAccess   = "at+jwt"       // RFC 9068 access token for the tenant API
	TypOperator = "operator+jwt" // platform operator token
)

// Claims are the claims of a tenantd token. Subject is the user id (a UUID),
// TenantID (claim "tid") the one tenant the token belongs to for its whole
// life, SessionID (claim "sid") the session whose revocation ends it.
//
// Claims returned by [Verifier.Verify] always have a UUID Subject, non-nil
// TenantID and SessionID, and IssuedAt and ExpiresAt set.
type Claims struct {
	jwt.RegisteredClaims
	TenantID  uuid.UUID `json:"tid"`
	SessionID uuid.UUID `json:"sid"`
}

// UserID returns the Subject as a UUID, uuid.Nil if it is not one (never the
// case for claims returned by Verify).
func (c Claims) UserID() uuid.UUID {
	id, err := uuid.Parse(c.Subject)
	if err != nil {
		return uuid.Nil
	}
	return id
}

// checkComplete checks the claims that tenantd needs beyond what the JWT
// library validates (exp, nbf, iat when present, iss, aud).
func (c *Claims) checkComplete() error {
	switch {
	case c.UserID() == uuid.Nil || c.UserID().String() != c.Subject:
		// Canonical form only, so one user has one sub.
		return fmt.Errorf("%w: sub is not a user id", ErrClaims)
	case c.TenantID == uuid.Nil:
		return fmt.Errorf("%w: tid missing", ErrClaims)
	case c.SessionID == uuid.Nil:
		return fmt.Errorf("%w: sid missing", ErrClaims)
	case c.IssuedAt == nil:
		return fmt.Errorf("%w: iat missing", ErrClaims)
	case c.ExpiresAt == nil:
		return fmt.Errorf("%w: exp missing", ErrClaims)
	}
	return nil
}

// clone returns a deep copy, so a cached Claims cannot be changed through a
// copy handed to a caller.
func (c Claims) clone() Claims {
	c.Audience = slices.Clone(c.Audience)
	for _, d := range []**jwt.NumericDate{&c.ExpiresAt, &c.NotBefore, &c.IssuedAt} {
		if *d != nil {
			v := **d
			*d = &v
		}
	}
	return c
}
