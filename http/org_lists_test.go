package http_test

import (
	"encoding/csv"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// orgList walks a list to its end with the given page size and returns the
// ids in order, checking that every page but the last is full.
func (a *app) orgList(path, token string, limit int) []string {
	a.t.Helper()
	var ids []string
	cursor := ""
	for range 100 {
		p := fmt.Sprintf("%s?limit=%d", path, limit)
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		res := a.do("GET", p, token, nil)
		if res.Status != 200 {
			a.t.Fatalf("GET %s: %d %s", p, res.Status, res.Body)
		}
		var page struct {
			Items []struct {
				ID     string `json:"id"`
				UserID string `json:"user_id"`
			}
			NextCursor *string `json:"next_cursor"`
		}
		res.json(a.t, &page)
		for _, it := range page.Items {
			ids = append(ids, it.ID+it.UserID)
		}
		if page.NextCursor == nil {
			return ids
		}
		if len(page.Items) != limit {
			a.t.Fatalf("GET %s: a page of %d before the end", p, len(page.Items))
		}
		cursor = *page.NextCursor
	}
	a.t.Fatal("more than 100 pages")
	return nil
}

// Lists are keyset-paginated: every row exactly once, in a stable order,
// whatever the page size; a bad limit or cursor is a 400; a cursor carries
// no tenant, so another tenant's cursor only pages through the caller's rows.
func TestOrganisationListsPaginate(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("enterprise")
	other := a.newTenant("enterprise")
	var workspaces, users []string
	for i := range 7 {
		workspaces = append(workspaces, a.orgWorkspace(tn.ID).String())
		a.orgWorkspace(other.ID)
		u := a.orgUser(tn.ID, "member")
		users = append(users, u.String())
		a.orgMember(tn.ID, uuid.MustParse(workspaces[0]), u, []string{"viewer", "editor"}[i%2])
	}
	for _, limit := range []int{1, 3, 7, 50} {
		if got := a.orgList("/v1/workspaces", tn.Token, limit); strings.Join(got, ",") != strings.Join(workspaces, ",") {
			t.Errorf("workspaces with limit %d: %v, want %v", limit, got, workspaces)
		}
		want := append([]string{tn.OwnerID.String()}, users...)
		if got := a.orgList("/v1/users", tn.Token, limit); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("users with limit %d: %v, want %v", limit, got, want)
		}
		if got := a.orgList("/v1/workspaces/"+workspaces[0]+"/members", tn.Token, limit); strings.Join(got, ",") != strings.Join(users, ",") {
			t.Errorf("members with limit %d: %v, want %v", limit, got, users)
		}
	}
	for _, path := range []string{"/v1/users", "/v1/workspaces", "/v1/workspaces/" + workspaces[0] + "/members"} {
		for _, q := range []string{"limit=0", "limit=501", "limit=-1", "limit=ten", "limit=", "cursor=nonsense", "cursor=e30"} {
			if res := a.do("GET", path+"?"+q, tn.Token, nil); res.Status != 400 {
				t.Errorf("GET %s?%s: %d, want 400", path, q, res.Status)
			}
		}
		if res := a.do("GET", path+"?limit=500", tn.Token, nil); res.Status != 200 {
			t.Errorf("GET %s?limit=500: %d", path, res.Status)
		}
	}
	// Tenant B's cursor, presented by A, pages through A's rows only.
	res := a.do("GET", "/v1/workspaces?limit=1", other.Token, nil)
	var page struct{ NextCursor string }
	res.json(t, &page)
	res = a.do("GET", "/v1/workspaces?limit=50&cursor="+url.QueryEscape(page.NextCursor), tn.Token, nil)
	if res.Status != 200 {
		t.Fatalf("foreign cursor: %d", res.Status)
	}
	for _, row := range a.superQuery(`SELECT id::text FROM workspaces WHERE tenant_id = $1`, other.ID) {
		if strings.Contains(string(res.Body), row[0]) {
			t.Fatalf("B's workspace %s listed to A", row[0])
		}
	}
}

// Usage: the exact counters and the tenant's limits (plan defaults until
// an operator overrides them).
func TestTenantUsage(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("free")
	a.orgWorkspace(tn.ID)
	deleted := a.orgWorkspace(tn.ID)
	a.sql(`UPDATE workspaces SET deleted_at = now() WHERE tenant_id = $1 AND id = $2`, tn.ID, deleted)
	a.orgUser(tn.ID, "member")
	gone := a.orgUser(tn.ID, "member")
	a.sql(`UPDATE users SET status = 'deactivated' WHERE tenant_id = $1 AND id = $2`, tn.ID, gone)

	res := a.do("GET", "/v1/tenant/usage", tn.Token, nil)
	var u struct {
		Workspaces, Users struct{ Used, Limit int }
		EmailSends        struct {
			Used, Limit int
			Period      string
		} `json:"email_sends"`
	}
	res.json(t, &u)
	if u.Workspaces.Used != 1 || u.Workspaces.Limit != 3 || u.Users.Used != 2 || u.Users.Limit != 5 ||
		u.EmailSends.Used != 0 || u.EmailSends.Limit != 1000 || u.EmailSends.Period != time.Now().UTC().Format("2006-01") {
		t.Fatalf("usage: %s", res.Body)
	}
	a.sql(`UPDATE tenants SET limits = '{"max_users": 7}' WHERE id = $1`, tn.ID)
	a.do("GET", "/v1/tenant/usage", tn.Token, nil).json(t, &u)
	if u.Users.Limit != 7 || u.Workspaces.Limit != 3 {
		t.Fatalf("override: users limit %d, workspaces limit %d", u.Users.Limit, u.Workspaces.Limit)
	}
}

// The access review lists every user with each workspace they reach, the
// role and why; deleted workspaces and deactivated users reach nothing;
// the CSV is safe to open in a spreadsheet; every export is audited.
func TestAccessReview(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	admin := a.orgUser(tn.ID, "admin")
	editor := a.orgUser(tn.ID, "member")
	nobody := a.orgUser(tn.ID, "member")
	gone := a.orgUser(tn.ID, "member")
	ws := a.seed(tn.ID, `INSERT INTO workspaces (tenant_id, name) VALUES ($1, '=HYPERLINK("http://evil")') RETURNING id`)
	old := a.orgWorkspace(tn.ID)
	a.orgMember(tn.ID, ws, editor, "editor")
	a.orgMember(tn.ID, old, editor, "manager")
	a.orgMember(tn.ID, ws, gone, "viewer")
	a.orgMember(tn.ID, ws, admin, "viewer")
	a.sql(`UPDATE workspaces SET deleted_at = now() WHERE tenant_id = $1 AND id = $2`, tn.ID, old)
	a.sql(`UPDATE users SET status = 'deactivated' WHERE tenant_id = $1 AND id = $2`, tn.ID, gone)

	res := a.do("GET", "/v1/access-review", tn.Token, nil)
	if res.Status != 200 {
		t.Fatalf("review: %d %s", res.Status, res.Body)
	}
	var review struct {
		Users []struct {
			ID         uuid.UUID
			Role       string
			Status     string
			Workspaces []struct {
				ID        uuid.UUID
				Role, Via string
			}
		}
	}
	res.json(t, &review)
	got := map[uuid.UUID]string{}
	for _, u := range review.Users {
		var reach []string
		for _, w := range u.Workspaces {
			reach = append(reach, fmt.Sprintf("%s:%s:%s", w.ID, w.Role, w.Via))
		}
		got[u.ID] = u.Role + "/" + u.Status + " " + strings.Join(reach, ",")
	}
	want := map[uuid.UUID]string{
		tn.OwnerID: "owner/active " + ws.String() + ":manager:tenant_role",
		admin:      "admin/active " + ws.String() + ":manager:tenant_role",
		editor:     "member/active " + ws.String() + ":editor:membership",
		nobody:     "member/active ",
		gone:       "member/deactivated ",
	}
	if len(got) != len(want) {
		t.Errorf("review has %d users, want %d", len(got), len(want))
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("user %s: %q, want %q", id, got[id], w)
		}
	}

	res = a.do("GET", "/v1/access-review?format=csv", tn.Token, nil)
	if res.Status != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", res.Status, res.Header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(string(res.Body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != "user_id,email,tenant_role,status,workspace_id,workspace_name,workspace_role,via" || len(rows) != 6 {
		t.Fatalf("csv: %v", rows)
	}
	for _, r := range rows[1:] {
		if r[5] != "" && r[5] != `'=HYPERLINK("http://evil")` {
			t.Errorf("workspace name cell %q is not defused", r[5])
		}
	}
	if res := a.do("GET", "/v1/access-review?format=xml", tn.Token, nil); res.Status != 400 {
		t.Errorf("format=xml: %d, want 400", res.Status)
	}
	events := a.events(tn.ID, "access_review.exported")
	if len(events) != 2 || events[0].Changes["format"] != "json" || events[1].Changes["format"] != "csv" ||
		fmt.Sprint(events[1].Changes["users"]) != "5" || fmt.Sprint(events[1].Changes["grants"]) != "3" {
		t.Errorf("access_review.exported events: %+v", events)
	}
}
