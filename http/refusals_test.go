package http_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/tenantd/tenantd"
)

// repeatCount is how many refusals an event stands for: a repeated
// refusal's event says so in changes.count, any other stands for one.
func repeatCount(e tenantd.AuditEvent) int {
	if n, ok := e.Changes["count"].(float64); ok {
		return int(n)
	}
	return 1
}

// A flood of wrong passwords against one account leaves the tenant's log
// with a handful of events that count it, not one event per attempt.
func TestLoginFloodWritesABoundedNumberOfEvents(t *testing.T) {
	t.Parallel()
	a := newApp(t, behindProxy, slowBackoff)
	acme := a.newTenant("pro")
	wrong := map[string]any{"tenant": acme.Slug, "email": acme.Email, "password": "wrong-password-123"}
	const flood = 200
	statuses := map[int]int{}
	for range flood {
		statuses[a.do("POST", "/v1/auth/login", "", wrong, from("203.0.113.66")...).Status]++
	}
	if statuses[401] != 6 || statuses[429] != flood-6 {
		t.Fatalf("statuses %v, want 6 wrong passwords checked and the rest throttled", statuses)
	}
	a.srv.FlushRepeats()

	events := a.events(acme.ID, "login.failed")
	if len(events) > 8 {
		t.Fatalf("%d login.failed events for %d attempts, want a handful", len(events), flood)
	}
	checked, throttled := 0, 0
	for _, e := range events {
		if e.Changes["reason"] == "throttled" {
			throttled += repeatCount(e)
			if !e.Flagged {
				t.Errorf("throttled attempts not flagged: %+v", e)
			}
		} else {
			checked += repeatCount(e)
		}
	}
	if checked != 6 || throttled != flood-6 {
		t.Fatalf("the events count %d checked and %d throttled attempts, want 6 and %d: %+v", checked, throttled, flood-6, events)
	}
}

// Requests that name another tenant are throttled before they are refused,
// and their refusals are counted into a bounded number of flagged events.
func TestForeignTenantFloodIsThrottledAndCounted(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	globex := a.newTenant("pro")
	const flood = 400
	statuses := map[int]int{}
	first429 := 0
	for i := range flood {
		st := a.do("GET", "/v1/me", acme.Token, nil, "X-Tenant-ID", globex.ID.String()).Status
		statuses[st]++
		if st == 429 && first429 == 0 {
			first429 = i + 1
		}
	}
	if statuses[403] == 0 || statuses[429] == 0 || statuses[403]+statuses[429] != flood {
		t.Fatalf("statuses %v, want 403s, then 429s once the budget is spent", statuses)
	}
	if first429 <= statuses[403]/2 {
		t.Fatalf("the first 429 came at request %d of %v", first429, statuses)
	}
	a.srv.FlushRepeats()

	mismatch := a.flagged(acme.ID, tenantd.FlagTenantMismatch)
	if len(mismatch) > 3 {
		t.Fatalf("%d tenant_mismatch events for %d requests, want at most 3", len(mismatch), flood)
	}
	counted := 0
	for _, e := range append(mismatch, a.events(acme.ID, "rate_limit.exceeded")...) {
		counted += repeatCount(e)
	}
	if counted != flood {
		t.Fatalf("the events count %d requests, want %d", counted, flood)
	}
	for _, e := range a.events(globex.ID, "") {
		if e.Outcome != "success" {
			t.Fatalf("the named tenant's log has an event of another tenant's request: %+v", e)
		}
	}
}

// Tokens that do not verify are throttled per client address, and their
// refusals are counted into a bounded number of security events; another
// address is not affected.
func TestGarbageTokenFloodIsThrottledAndCounted(t *testing.T) {
	t.Parallel()
	a := newApp(t, behindProxy)
	const flood = 400
	statuses := map[int]int{}
	for range flood {
		statuses[a.do("GET", "/v1/me", "garbage.garbage.garbage", nil, from("203.0.113.9")...).Status]++
	}
	if statuses[401] == 0 || statuses[429] == 0 || statuses[401]+statuses[429] != flood {
		t.Fatalf("statuses %v, want 401s, then 429s once the address's budget is spent", statuses)
	}
	if res := a.do("GET", "/v1/me", "garbage.garbage.garbage", nil, from("198.51.100.1")...); res.Status != 401 {
		t.Fatalf("another address: %d, want 401", res.Status)
	}
	a.srv.FlushRepeats()

	rows := a.superQuery(`SELECT reason FROM security_events WHERE ip = '203.0.113.9'::inet ORDER BY id`)
	if len(rows) > 3 {
		t.Fatalf("%d security events for %d refused requests, want at most 3", len(rows), flood)
	}
	counted := 0
	for _, r := range rows {
		_, more, ok := strings.Cut(r[0], "; repeated ")
		if !ok {
			counted++
			continue
		}
		n, err := strconv.Atoi(strings.Fields(more)[0])
		if err != nil {
			t.Fatalf("reason %q: %v", r[0], err)
		}
		counted += n
	}
	if counted != flood {
		t.Fatalf("the security events count %d refusals, want %d: %v", counted, flood, rows)
	}
}
