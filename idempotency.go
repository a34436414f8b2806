package tenantd

import "context"

// IdempotentResponse is a stored response to replay.
type IdempotentResponse struct {
	Status  int
	Headers map[string]string
	Body    []byte
}

// IdempotencyService keeps the first response to an Idempotency-Key of one
// user of one tenant. Claim returns nil when the caller should run the
// request (then Finish or Release), the stored response for a repeat,
// EINVALID for the key reused with another request, ECONFLICT while the
// first request runs.
type IdempotencyService interface {
	Claim(ctx context.Context, s Scope, key [32]byte, method, path string, hash [32]byte) (*IdempotentResponse, error)
	Finish(ctx context.Context, s Scope, key [32]byte, resp IdempotentResponse) error
	Release(ctx context.Context, s Scope, key [32]byte) error
}
