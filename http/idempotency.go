package http

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"

	"github.com/tenantd/tenantd"
)

// Idempotency keys on POSTs that create (the Idempotency-Key header, as
// Stripe's API does it): the first successful response to a key is kept
// for 24 hours and replayed, with Idempotent-Replayed: true, to a retry
// with the same method, path and body; the same key with another request is
// 422; a retry while the first request runs is 409 with Retry-After. Keys
// belong to one user of one tenant (stored under RLS). A request that fails
// keeps nothing, so its retry runs again.
//
// The database keeps the SHA-256 of the key and the response body sealed
// with AES-256-GCM under a key derived from the idempotency key (HKDF), so
// a response carrying a secret (an invitation token) cannot be read from
// the database without the key only the client holds.
//
// Known window: the response is stored in a transaction after the
// handler's own. If the server dies between the two, the key stays pending
// for a minute and the retry then runs the request again.

const maxIdempotencyKey = 255

// replayedHeaders are the response headers a replay repeats.
var replayedHeaders = []string{"Content-Type", "Location", "ETag"}

// idempotent wraps a tenant handler with the Idempotency-Key protocol.
func (s *Server) idempotent(h func(http.ResponseWriter, *http.Request, *call) error) func(http.ResponseWriter, *http.Request, *call) error {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			return h(w, r, c)
		}
		if err := checkIdempotencyKey(key); err != nil {
			return err
		}
		body, err := io.ReadAll(r.Body) // the flow's buffered copy: bounded already
		if err != nil {
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		hash := sha256.Sum256(append([]byte(r.Method+" "+r.URL.RequestURI()+"\n"), body...))
		id := sha256.Sum256([]byte(key))
		stored, err := s.idempotency.Claim(r.Context(), c.scope, id, r.Method, r.URL.Path, hash)
		if err != nil {
			return err
		}
		if stored != nil {
			plain, err := openResponse(key, stored.Body)
			if err != nil {
				return &tenantd.Error{Code: tenantd.EINTERNAL, Message: "A stored response cannot be opened.", Cause: err}
			}
			for k, v := range stored.Headers {
				w.Header().Set(k, v)
			}
			w.Header().Set("Idempotent-Replayed", "true")
			w.Header().Set("Cache-Control", "no-store") // as the first answer: it may carry a secret (an invitation)
			w.WriteHeader(stored.Status)
			w.Write(plain)
			return nil
		}
		rec := &capture{ResponseWriter: w}
		err = h(rec, r, c)
		ctx := context.WithoutCancel(r.Context())
		if err != nil || rec.status/100 != 2 {
			if rerr := s.idempotency.Release(ctx, c.scope, id); rerr != nil {
				logger(ctx).Error("release idempotency key", "err", rerr)
			}
			return err
		}
		sealed, err := sealResponse(key, rec.body.Bytes())
		if err != nil {
			return err
		}
		resp := tenantd.IdempotentResponse{Status: rec.status, Headers: map[string]string{}, Body: sealed}
		for _, k := range replayedHeaders {
			if v := w.Header().Get(k); v != "" {
				resp.Headers[k] = v
			}
		}
		if err := s.idempotency.Finish(ctx, c.scope, id, resp); err != nil {
			// The response stands; a retry within the takeover window gets
			// 409, after it the request runs again.
			logger(ctx).Error("store idempotent response", "err", err)
		}
		return nil
	}
}

func checkIdempotencyKey(key string) error {
	if len(key) > maxIdempotencyKey {
		return tenantd.Errorf(tenantd.EBADREQUEST, "The Idempotency-Key header is longer than %d bytes.", maxIdempotencyKey)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return tenantd.Errorf(tenantd.EBADREQUEST, "The Idempotency-Key header must be printable ASCII without spaces.")
		}
	}
	return nil
}

// capture passes a response through and keeps a copy of its status and
// body.
type capture struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (c *capture) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.body.Write(b)
	return c.ResponseWriter.Write(b)
}

// responseCipher is AES-256-GCM under a key derived from the idempotency
// key.
func responseCipher(key string) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, []byte(key), nil, "tenantd idempotent response v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealResponse returns nonce || ciphertext of body.
func sealResponse(key string, body []byte) ([]byte, error) {
	aead, err := responseCipher(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, body, nil), nil
}

func openResponse(key string, sealed []byte) ([]byte, error) {
	aead, err := responseCipher(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("sealed response too short")
	}
	return aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
}
