package http

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"
)

// fuzzBody has a field of each kind request bodies use.
type fuzzBody struct {
	Name     string            `json:"name"`
	Count    int               `json:"count"`
	On       *bool             `json:"on"`
	Tags     []string          `json:"tags"`
	Settings map[string]string `json:"settings"`
	ID       uuid.UUID         `json:"id"`
}

// FuzzDecodeJSON: decodeJSONBytes never panics; what it accepts is valid
// UTF-8 without NUL, and re-encodes to a body it accepts again as the same
// value.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"name":"a","count":1,"on":true,"tags":["x"],"settings":{"k":"v"},"id":"` + uuid.NewString() + `"}`,
		`{"name":`, `[]`, `null`, `{} {}`, `{"unknown":1}`, `{"name":"a\u0000b"}`, "{\"name\":\"\xff\"}",
		`{"count":"1"}`, `{"count":1e400}`, `{"id":"not-a-uuid"}`, `{"name":"'; DROP TABLE users; --"}`,
		`   `, `{"tags":[[[[[]]]]]}`, `{"name":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v fuzzBody
		if err := decodeJSONBytes(body, &v); err != nil {
			if StatusOf(err) != 400 {
				t.Fatalf("rejected with %d, want 400: %v", StatusOf(err), err)
			}
			return
		}
		if !utf8.Valid(body) || bytes.IndexByte(body, 0) >= 0 {
			t.Fatalf("accepted invalid UTF-8 or NUL: %q", body)
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("accepted body does not re-encode: %v", err)
		}
		var w fuzzBody
		if err := decodeJSONBytes(again, &w); err != nil {
			t.Fatalf("re-encoded body %s is refused: %v", again, err)
		}
		if !reflect.DeepEqual(v, w) {
			t.Fatalf("round trip changed the value: %+v != %+v", v, w)
		}
	})
}

// FuzzRefreshToken: parseRefreshToken never panics, accepts only what
// refreshToken can produce (up to UUID spelling), and what it accepts
// round-trips.
func FuzzRefreshToken(f *testing.F) {
	good := refreshToken(uuid.New(), uuid.New(), "c2VjcmV0")
	for _, s := range []string{
		good, "", "rt1", "rt1...", "rt1.x.y.z", "rt2." + good[4:], good + ".extra", strings.ToUpper(good),
		"rt1." + uuid.NewString() + "." + uuid.NewString() + ".", strings.Repeat("a", 300),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		tenant, session, secret, ok := parseRefreshToken(tok)
		if !ok {
			if tenant != uuid.Nil || session != uuid.Nil || secret != "" {
				t.Fatalf("refused token %q leaked values", tok)
			}
			return
		}
		if len(tok) > 256 || secret == "" || strings.Contains(secret, ".") {
			t.Fatalf("accepted %q (secret %q)", tok, secret)
		}
		t2, s2, sec2, ok2 := parseRefreshToken(refreshToken(tenant, session, secret))
		if !ok2 || t2 != tenant || s2 != session || sec2 != secret {
			t.Fatalf("round trip of %q failed", tok)
		}
	})
}
