package http

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd/auth"
)

// Operator tokens are short-lived: there is no session to revoke them.
const (
	DefaultOperatorTTL = 15 * time.Minute
	MaxOperatorTTL     = time.Hour
)

// MintOperatorToken signs a platform operator token (`tenantd operator
// token`): typ operator+jwt, the operator audience, tid PlatformTenant and a
// random sid, so no tenant route accepts it and it names no tenant. issuer
// and audience default to the server's ("tenantd", "tenantd-operator"); ttl
// defaults to DefaultOperatorTTL and may not exceed MaxOperatorTTL.
func MintOperatorToken(keys func() *auth.KeySet, issuer, audience string, operator uuid.UUID, ttl time.Duration) (string, error) {
	if issuer == "" {
		issuer = "tenantd"
	}
	if audience == "" {
		audience = "tenantd-operator"
	}
	if ttl == 0 {
		ttl = DefaultOperatorTTL
	}
	if ttl < 0 || ttl > MaxOperatorTTL {
		return "", fmt.Errorf("operator token lifetime must be at most %s", MaxOperatorTTL)
	}
	if operator == uuid.Nil {
		return "", fmt.Errorf("operator token: an operator id is required")
	}
	i := &auth.Issuer{Keys: keys, Issuer: issuer, Audience: audience, TTL: ttl, Typ: auth.TypOperator}
	tok, _, err := i.Issue(operator, PlatformTenant, uuid.New())
	return tok, err
}
