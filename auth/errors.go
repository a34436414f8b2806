package auth

import "errors"

// Token rejection reasons. [Verifier.Verify] wraps exactly one of them, so
// callers can tell with errors.Is why a token was refused (for logs and
// metrics); the client gets the same 401 whatever the reason.
var (
	ErrTooLarge    = errors.New("auth: token too large")
	ErrMalformed   = errors.New("auth: token malformed")
	ErrAlgorithm   = errors.New("auth: token algorithm not accepted")
	ErrUnknownKey  = errors.New("auth: token signed by an unknown key")
	ErrSignature   = errors.New("auth: token signature invalid")
	ErrExpired     = errors.New("auth: token expired")
	ErrNotYetValid = errors.New("auth: token not yet valid")
	ErrIssuer      = errors.New("auth: token issuer not accepted")
	ErrAudience    = errors.New("auth: token audience not accepted")
	ErrType        = errors.New("auth: token type not accepted")
	ErrClaims      = errors.New("auth: token claims missing or invalid")
)

var (
	// ErrConfig means an Issuer, Verifier or key set is misconfigured (no
	// issuer, no audience, no keys, an unsupported algorithm): a server bug,
	// not a bad token.
	ErrConfig = errors.New("auth: misconfigured")

	// ErrNoSigningKey means the key set has no active key able to sign.
	ErrNoSigningKey = errors.New("auth: no active signing key")
)
