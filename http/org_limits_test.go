package http_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"
)

// orgBurst sends n requests at once and counts the answers by status;
// every 409 must be a limit-exceeded problem naming limit.
func (a *app) orgBurst(t *testing.T, n int, limit string, send func(i int) *response) map[int]int {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	statuses := map[int]int{}
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res := send(i)
			if res.Status == 409 {
				var p orgProblem
				res.json(t, &p)
				if p.Type != "/problems/limit-exceeded" || p.Limit != limit || p.Status != 409 {
					t.Errorf("409 is not a limit-exceeded problem naming %s: %s", limit, res.Body)
				}
			}
			mu.Lock()
			statuses[res.Status]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return statuses
}

// orgUsage reads GET /v1/tenant/usage.
func (a *app) orgUsage(token string) (workspaces, users [2]int) {
	a.t.Helper()
	var u struct {
		Workspaces, Users struct{ Used, Limit int }
	}
	res := a.do("GET", "/v1/tenant/usage", token, nil)
	if res.Status != 200 {
		a.t.Fatalf("usage: %d %s", res.Status, res.Body)
	}
	res.json(a.t, &u)
	return [2]int{u.Workspaces.Used, u.Workspaces.Limit}, [2]int{u.Users.Used, u.Users.Limit}
}

// The tenants are on the enterprise plan so that the API rate limit (a
// burst of 1200) stays out of the way of the limits under test.

// 50 parallel creates against a remaining capacity of 3: exactly 3
// succeed, 47 are refused with limit-exceeded. Deleted workspaces do not
// count: each round deletes one, and the freed place is taken again.
func TestWorkspaceLimitCannotBeOvershot(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("enterprise")
	var live []string
	for round := range 3 {
		a.sql(`UPDATE tenants SET limits = '{"max_workspaces": 1000}' WHERE id = $1`, tn.ID)
		// One live workspace more, one deleted: the deleted one must not count.
		for _, name := range []string{"keep", "drop"} {
			res := a.do("POST", "/v1/workspaces", tn.Token, map[string]any{"name": fmt.Sprintf("%s-%d", name, round)})
			if res.Status != 201 {
				t.Fatalf("round %d: create: %d %s", round, res.Status, res.Body)
			}
			var ws struct{ ID string }
			res.json(t, &ws)
			live = append(live, ws.ID)
		}
		drop := live[len(live)-1]
		live = live[:len(live)-1]
		if res := a.do("DELETE", "/v1/workspaces/"+drop, tn.Token, nil); res.Status != 204 {
			t.Fatalf("round %d: delete: %d %s", round, res.Status, res.Body)
		}
		used := len(live)
		a.sql(`UPDATE tenants SET limits = jsonb_build_object('max_workspaces', $2::int) WHERE id = $1`, tn.ID, used+3)

		statuses := a.orgBurst(t, 50, "max_workspaces", func(i int) *response {
			return a.do("POST", "/v1/workspaces", tn.Token, map[string]any{"name": fmt.Sprintf("burst-%d-%d", round, i)})
		})
		if statuses[201] != 3 || statuses[409] != 47 || len(statuses) != 2 {
			t.Fatalf("round %d: statuses %v, want exactly 3 × 201 and 47 × 409", round, statuses)
		}
		var n string
		a.superScan(`SELECT count(*)::text FROM workspaces WHERE tenant_id = $1 AND deleted_at IS NULL`, []any{tn.ID}, &n)
		if ws, _ := a.orgUsage(tn.Token); n != fmt.Sprint(used+3) || ws != [2]int{used + 3, used + 3} {
			t.Fatalf("round %d: %s live workspaces, usage %v, want %d of %d", round, n, ws, used+3, used+3)
		}
		if got := len(a.events(tn.ID, "limit.exceeded")); got != 47*(round+1) {
			t.Errorf("round %d: %d limit.exceeded events, want %d", round, got, 47*(round+1))
		}
		// The burst's winners stay; next round builds on them.
		for _, row := range a.superQuery(`SELECT id::text FROM workspaces WHERE tenant_id = $1 AND name LIKE $2`, tn.ID, fmt.Sprintf("burst-%d-%%", round)) {
			live = append(live, row[0])
		}
	}
}

// The same for users: 50 parallel invitations against a remaining
// capacity of 3. Deactivated users do not count: each round deactivates
// one, and the freed place is taken again.
func TestUserLimitCannotBeOvershot(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("enterprise")
	for round := range 3 {
		a.sql(`UPDATE tenants SET limits = '{"max_users": 1000}' WHERE id = $1`, tn.ID)
		// One invited user more, one deactivated: that one must not count.
		var ids []string
		for _, name := range []string{"keep", "drop"} {
			res := a.do("POST", "/v1/users", tn.Token, map[string]any{"email": fmt.Sprintf("%s-%d@example.com", name, round), "role": "member"})
			if res.Status != 201 {
				t.Fatalf("round %d: invite: %d %s", round, res.Status, res.Body)
			}
			var u struct{ ID string }
			res.json(t, &u)
			ids = append(ids, u.ID)
		}
		if res := a.do("DELETE", "/v1/users/"+ids[1], tn.Token, nil); res.Status != 204 {
			t.Fatalf("round %d: deactivate: %d %s", round, res.Status, res.Body)
		}
		var used int
		var n string
		a.superScan(`SELECT count(*)::text FROM users WHERE tenant_id = $1 AND status <> 'deactivated'`, []any{tn.ID}, &n)
		fmt.Sscan(n, &used)
		a.sql(`UPDATE tenants SET limits = jsonb_build_object('max_users', $2::int) WHERE id = $1`, tn.ID, used+3)

		statuses := a.orgBurst(t, 50, "max_users", func(i int) *response {
			return a.do("POST", "/v1/users", tn.Token, map[string]any{
				"email": fmt.Sprintf("burst-%d-%d-%s@example.com", round, i, uuid.NewString()[:4]), "role": "member"})
		})
		if statuses[201] != 3 || statuses[409] != 47 || len(statuses) != 2 {
			t.Fatalf("round %d: statuses %v, want exactly 3 × 201 and 47 × 409", round, statuses)
		}
		a.superScan(`SELECT count(*)::text FROM users WHERE tenant_id = $1 AND status <> 'deactivated'`, []any{tn.ID}, &n)
		if _, us := a.orgUsage(tn.Token); n != fmt.Sprint(used+3) || us != [2]int{used + 3, used + 3} {
			t.Fatalf("round %d: %s counted users, usage %v, want %d of %d", round, n, us, used+3, used+3)
		}
		// Refused invitations left nothing behind.
		a.superScan(`SELECT count(*)::text FROM invitations WHERE tenant_id = $1`, []any{tn.ID}, &n)
		if n != fmt.Sprint(5*(round+1)) {
			t.Fatalf("round %d: %s invitations, want %d (2 + 3 per round)", round, n, 5*(round+1))
		}
	}
}
