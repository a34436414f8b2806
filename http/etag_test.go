package http_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// GET and PATCH return a strong ETag; If-Match with the current one
// applies, a stale or made-up one is 412 and changes nothing.
func TestIfMatchOnPatch(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("enterprise")
	created := a.do("POST", "/v1/workspaces", tn.Token, map[string]any{"name": "v1"})
	loc := created.Header.Get("Location")
	got := a.do("GET", loc, tn.Token, nil)
	v1 := got.Header.Get("ETag")
	if got.Status != 200 || len(v1) < 3 || v1[0] != '"' {
		t.Fatalf("GET: %d ETag %q", got.Status, v1)
	}
	res := a.do("PATCH", loc, tn.Token, map[string]any{"name": "v2"}, "If-Match", v1)
	v2 := res.Header.Get("ETag")
	if res.Status != 200 || v2 == "" || v2 == v1 {
		t.Fatalf("PATCH with the current ETag: %d ETag %q (was %q) %s", res.Status, v2, v1, res.Body)
	}
	for _, stale := range []string{v1, `"bogus"`, `W/` + v2, "garbage"} {
		res := a.do("PATCH", loc, tn.Token, map[string]any{"name": "lost " + stale}, "If-Match", stale)
		if res.Status != 412 {
			t.Errorf("If-Match %s: %d, want 412: %s", stale, res.Status, res.Body)
		}
	}
	if res := a.do("GET", loc, tn.Token, nil); res.Header.Get("ETag") != v2 || !contains(res.Body, `"name":"v2"`) {
		t.Fatalf("after refused patches: ETag %s body %s", res.Header.Get("ETag"), res.Body)
	}
	if res := a.do("PATCH", loc, tn.Token, map[string]any{"name": "v3"}, "If-Match", `"x", `+v2); res.Status != 200 {
		t.Errorf("If-Match list naming the current version: %d", res.Status)
	}
	if res := a.do("PATCH", loc, tn.Token, map[string]any{"name": "v4"}, "If-Match", "*"); res.Status != 200 {
		t.Errorf("If-Match *: %d", res.Status)
	}

	user := a.do("GET", "/v1/users/"+tn.OwnerID.String(), tn.Token, nil)
	if user.Header.Get("ETag") == "" {
		t.Fatal("GET user has no ETag")
	}
	if res := a.do("PATCH", "/v1/users/"+tn.OwnerID.String(), tn.Token, map[string]any{"role": "owner"}, "If-Match", `"0"`); res.Status != 412 {
		t.Errorf("PATCH user with a stale ETag: %d, want 412", res.Status)
	}
}

// Concurrent patches naming the same version: exactly one wins.
func TestIfMatchRace(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("enterprise")
	loc := a.do("POST", "/v1/workspaces", tn.Token, map[string]any{"name": "race"}).Header.Get("Location")
	tag := a.do("GET", loc, tn.Token, nil).Header.Get("ETag")
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub := *a
			sub.t = t
			res := sub.do("PATCH", loc, tn.Token, map[string]any{"name": fmt.Sprintf("writer %d", i)}, "If-Match", tag)
			mu.Lock()
			statuses[res.Status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[200] != 1 || statuses[412] != 9 {
		t.Fatalf("statuses %v, want exactly one 200 and nine 412", statuses)
	}
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }
