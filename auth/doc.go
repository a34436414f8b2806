// Package auth holds the credentials of tenantd: signing keys, access tokens,
// opaque secrets (refresh tokens, invitations) and passwords. It is pure Go:
// no database, no HTTP. Keys are stored elsewhere through [KeyStore].
//
// Who calls what:
//
//   - The login and refresh handlers call [Issuer.Issue] after checking a
//     password with [CheckPassword] (or [DummyCheck] when the user does not
//     exist) and hand out refresh tokens made by [NewSecret].
//   - The authentication middleware calls [Verifier.Verify] (or a
//     [CachingVerifier]) on every request, then checks the session and the
//     user against the database (request flow step 4, docs/architecture.md): a verified token is not
//     proof that its session is still alive.
//   - cmd/tenantd builds a [KeyRing] over a [KeyStore], refreshes it
//     periodically and gives its Keys method to the Issuer, the Verifier and
//     the JWKS endpoint ([KeySet.JWKS]).
//
// Every Verify failure wraps exactly one of the sentinel errors (ErrMalformed,
// ErrTooLarge, ...); all of them mean 401. ErrConfig means the Verifier or
// Issuer is misconfigured: a 500, never the caller's fault.
package auth
