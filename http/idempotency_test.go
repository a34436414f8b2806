package http_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
)

func (a *app) workspaceCount(tn *tenant) string {
	return a.superQuery(`SELECT count(*) FROM workspaces WHERE tenant_id = $1`, tn.ID)[0][0]
}

// A retry with the same key and body replays the first response and
// creates nothing more; the same key with another body is 422.
func TestIdempotencyKeyReplays(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("enterprise")
	key := uuid.NewString()
	body := map[string]any{"name": "launch"}
	first := a.do("POST", "/v1/workspaces", tn.Token, body, "Idempotency-Key", key)
	if first.Status != 201 {
		t.Fatalf("first: %d %s", first.Status, first.Body)
	}
	again := a.do("POST", "/v1/workspaces", tn.Token, body, "Idempotency-Key", key)
	if again.Status != 201 || string(again.Body) != string(first.Body) || again.Header.Get("Idempotent-Replayed") != "true" ||
		again.Header.Get("Location") != first.Header.Get("Location") || again.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("replay: %d %v %s, want the first response %s", again.Status, again.Header, again.Body, first.Body)
	}
	if n := a.workspaceCount(tn); n != "1" {
		t.Fatalf("%s workspaces after a replay, want 1", n)
	}
	other := a.do("POST", "/v1/workspaces", tn.Token, map[string]any{"name": "other"}, "Idempotency-Key", key)
	if other.Status != 422 {
		t.Fatalf("same key, other body: %d %s, want 422", other.Status, other.Body)
	}
	if n := a.workspaceCount(tn); n != "1" {
		t.Fatalf("%s workspaces after a refused reuse, want 1", n)
	}
	// Without a key nothing is replayed: the repeat is a duplicate name.
	if res := a.do("POST", "/v1/workspaces", tn.Token, body); res.Status != 409 {
		t.Fatalf("repeat without a key: %d, want 409", res.Status)
	}
}

// Keys belong to one user: another user of the same tenant sending the
// same key and body is not answered with the first user's response.
func TestIdempotencyKeyIsPerUser(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("enterprise")
	admin := a.orgToken(tn.ID, a.orgUser(tn.ID, "admin"))
	key, body := uuid.NewString(), map[string]any{"name": "shared"}
	if res := a.do("POST", "/v1/workspaces", tn.Token, body, "Idempotency-Key", key); res.Status != 201 {
		t.Fatalf("owner: %d %s", res.Status, res.Body)
	}
	res := a.do("POST", "/v1/workspaces", admin, body, "Idempotency-Key", key)
	if res.Status != 409 || res.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("admin with the owner's key: %d %v %s, want a fresh 409 (name taken)", res.Status, res.Header, res.Body)
	}
}

// Concurrent requests with one key create exactly one resource; the others
// replay it or are told the first is still running.
func TestIdempotencyKeyConcurrent(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("enterprise")
	key := uuid.NewString()
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	var bodies []string
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub := *a
			sub.t = t
			res := sub.do("POST", "/v1/workspaces", tn.Token, map[string]any{"name": "race"}, "Idempotency-Key", key)
			mu.Lock()
			defer mu.Unlock()
			statuses[res.Status]++
			if res.Status == 409 && (res.Header.Get("Retry-After") == "" || !strings.Contains(string(res.Body), "in progress")) {
				t.Errorf("a 409 that is not 'still in progress': %v %s", res.Header, res.Body)
			}
			if res.Status == 201 {
				bodies = append(bodies, string(res.Body))
			}
		}()
	}
	wg.Wait()
	if statuses[201]+statuses[409] != 12 || statuses[201] < 1 {
		t.Fatalf("statuses %v: want only 201 (first or replay) and 409 (in progress)", statuses)
	}
	for _, b := range bodies {
		if b != bodies[0] {
			t.Fatalf("two different 201 bodies: %s and %s", bodies[0], b)
		}
	}
	if n := a.workspaceCount(tn); n != "1" {
		t.Fatalf("%s workspaces, want exactly 1", n)
	}
}

// A failed request keeps nothing: a corrected retry with the same key runs.
func TestIdempotencyKeyFailureIsNotKept(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("enterprise")
	key := uuid.NewString()
	if res := a.do("POST", "/v1/workspaces", tn.Token, map[string]any{"name": ""}, "Idempotency-Key", key); res.Status != 422 {
		t.Fatalf("invalid: %d %s", res.Status, res.Body)
	}
	if res := a.do("POST", "/v1/workspaces", tn.Token, map[string]any{"name": "fixed"}, "Idempotency-Key", key); res.Status != 201 {
		t.Fatalf("corrected retry: %d %s", res.Status, res.Body)
	}
	for _, bad := range []string{strings.Repeat("k", 256), "has space", "tab\tkey"} {
		if res := a.do("POST", "/v1/workspaces", tn.Token, map[string]any{"name": "x" + uuid.NewString()[:6]}, "Idempotency-Key", bad); res.Status != 400 {
			t.Errorf("key %q: %d, want 400", bad[:min(len(bad), 12)], res.Status)
		}
	}
}

// An invitation's one-time token is replayed to the client that holds the
// key, but the database never holds it readable.
func TestIdempotentResponseIsSealed(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("enterprise")
	key := uuid.NewString()
	body := map[string]any{"email": "new@example.com", "role": "member"}
	first := a.do("POST", "/v1/users", tn.Token, body, "Idempotency-Key", key)
	if first.Status != 201 {
		t.Fatalf("invite: %d %s", first.Status, first.Body)
	}
	var out struct {
		Invitation struct {
			Token string `json:"token"`
		} `json:"invitation"`
	}
	first.json(t, &out)
	if out.Invitation.Token == "" {
		t.Fatalf("no invitation token in %s", first.Body)
	}
	secret := out.Invitation.Token[strings.LastIndex(out.Invitation.Token, ".")+1:]
	row := a.superQuery(`SELECT encode(key_hash, 'escape'), encode(body, 'escape'), headers::text FROM idempotency_keys WHERE tenant_id = $1`, tn.ID)
	if len(row) != 1 {
		t.Fatalf("%d stored keys, want 1", len(row))
	}
	for _, col := range row[0] {
		if strings.Contains(col, secret) || strings.Contains(col, key) || strings.Contains(col, "new@example.com") {
			t.Fatalf("the database holds the key or the response in the clear: %.200s", col)
		}
	}
	again := a.do("POST", "/v1/users", tn.Token, body, "Idempotency-Key", key)
	if again.Status != 201 || string(again.Body) != string(first.Body) {
		t.Fatalf("replay: %d %s", again.Status, again.Body)
	}
}
