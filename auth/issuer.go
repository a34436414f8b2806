package auth

import (
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// DefaultTTL is the lifetime of an access token when Issuer.TTL is zero.
// Short, because a refresh token gets a new one; revocation is checked on
// every request anyway (request flow step 4, docs/architecture.md).
const DefaultTTL = 15 * time.Minute

// Issuer signs access tokens with the active key of its key set. Called only
// by the login and refresh handlers, after they have authenticated the user
// and created or checked the session. Safe for concurrent use.
type Issuer struct {
	// Keys returns the current key set (e.g. KeyRing.Keys).
	Keys func() *KeySet
	// Issuer and Audience go into iss and aud; both are required.
	Issuer, Audience string
	// TTL is the token lifetime; zero means DefaultTTL.
	TTL time.Duration
	// Typ is the typ header; "" means TypAccess.
	Typ string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Issue returns a signed token for the user userID in tenant tenantID and
// session sessionID, and the claims it carries. The header names the
// algorithm, the kid of the signing key and the type (RFC 9068 "at+jwt").
func (i *Issuer) Issue(userID, tenantID, sessionID uuid.UUID) (string, Claims, error) {
	if i.Issuer == "" || i.Audience == "" || i.Keys == nil {
		return "", Claims{}, fmt.Errorf("%w: Issuer needs Keys, Issuer and Audience", ErrConfig)
	}
	if userID == uuid.Nil || tenantID == uuid.Nil || sessionID == uuid.Nil {
		return "", Claims{}, fmt.Errorf("auth: issue: user, tenant and session ids are required")
	}
	keys := i.Keys()
	if keys == nil || keys.active == nil {
		return "", Claims{}, ErrNoSigningKey
	}
	key := keys.active
	now := time.Now()
	if i.Now != nil {
		now = i.Now()
	}
	ttl := i.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	exp := now.Add(ttl)
	if !key.NotAfter.IsZero() && exp.After(key.NotAfter) {
		// Its tokens would outlive the key in the JWKS.
		return "", Claims{}, fmt.Errorf("%w: active key %s retires before the token would expire", ErrNoSigningKey, key.ID)
	}
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.Issuer,
			Subject:   userID.String(),
			Audience:  jwt.ClaimStrings{i.Audience},
			ExpiresAt: jwt.NewNumericDate(exp),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        uuid.NewString(),
		},
		TenantID:  tenantID,
		SessionID: sessionID,
	}
	typ := i.Typ
	if typ == "" {
		typ = TypAccess
	}
	tok := jwt.NewWithClaims(signingMethod(key.Alg), claims)
	tok.Header["kid"] = key.ID
	tok.Header["typ"] = typ
	signed, err := tok.SignedString(key.Private)
	if err != nil {
		return "", Claims{}, fmt.Errorf("auth: sign token: %w", err)
	}
	return signed, claims, nil
}

func signingMethod(alg string) jwt.SigningMethod {
	if alg == AlgES256 {
		return jwt.SigningMethodES256
	}
	return jwt.SigningMethodEdDSA
}
