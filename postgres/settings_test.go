package postgres_test

import (
	"context"
	"encoding/json"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/postgres"
)

// rowChanges returns the changes of the tenant's events of one action, in
// order, as the superuser reads them.
func rowChanges(t testing.TB, env *testenv.Env, tenant any, action string) []map[string]json.RawMessage {
	t.Helper()
	rows, err := adminConn(t, env).Query(context.Background(),
		`SELECT changes FROM audit_events WHERE tenant_id = $1 AND action = $2 ORDER BY seq`, tenant, action)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []map[string]json.RawMessage
	for rows.Next() {
		var c map[string]json.RawMessage
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func keys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// A row event names only the fields that changed: a column NULL before and
// after (a new workspace's deleted_at) is not one of them.
func TestRowEventsNameOnlyChangedFields(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db, ctx := env.DB, context.Background()
	tenant, owner := newTenant(t, db, "pro")
	admin := orgScope(tenant, owner, tenantd.RoleOwner, nil)
	ws, err := db.Workspaces().Create(ctx, admin, "Launch", "")
	if err != nil {
		t.Fatal(err)
	}
	name := "Relaunch"
	if _, err := db.Workspaces().Update(ctx, admin, ws.ID, tenantd.WorkspacePatch{Name: &name}); err != nil {
		t.Fatal(err)
	}
	created := rowChanges(t, env, tenant, "workspace.created")
	updated := rowChanges(t, env, tenant, "workspace.updated")
	if len(created) != 1 || len(updated) != 1 {
		t.Fatalf("events: %d created, %d updated", len(created), len(updated))
	}
	if got := keys(created[0]); !reflect.DeepEqual(got, []string{"description", "id", "name"}) {
		t.Errorf("workspace.created changes %v, want description, id, name", got)
	}
	if got := keys(updated[0]); !reflect.DeepEqual(got, []string{"name"}) {
		t.Errorf("workspace.updated changes %v, want name", got)
	}
	for _, c := range append(created, updated...) {
		for k, v := range c {
			if string(v) == "{}" {
				t.Errorf("%s: {} for a field that did not change", k)
			}
		}
	}
}

func settingsPatch(t testing.TB, tenant uuid.UUID, body string) *tenantd.SettingsPatch {
	t.Helper()
	p, err := tenantd.ParseSettingsPatch([]byte(body), tenant)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func accept(tenantd.StoredSettings) error { return nil }

// A new tenant has every setting unset; a patch changes what it names and
// is one settings.updated event with the old and new value of each setting
// it changed, and nothing else; a patch that changes nothing writes nothing.
func TestSettingsUpdateIsOneEventOfWhatChanged(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db, ctx := env.DB, context.Background()
	tenant, owner := newTenant(t, db, "enterprise")
	admin := orgScope(tenant, owner, tenantd.RoleAdmin, nil)

	st, err := db.Settings().Get(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Values.Equal(tenantd.SettingsValues{}) || st.Config.Plan != "enterprise" || !st.Config.Features.CustomBranding ||
		st.Config.Limits.MaxUsers != 500 || !strings.HasPrefix(st.TenantName, "Tenant ") {
		t.Fatalf("a new tenant's settings: %+v", st)
	}

	st, err = db.Settings().Update(ctx, admin, settingsPatch(t, tenant,
		`{"settings": {"timezone": "Europe/Paris", "branding": {"primary_color": "#ABCDEF"}}}`), accept)
	if err != nil {
		t.Fatal(err)
	}
	st, err = db.Settings().Update(ctx, admin, settingsPatch(t, tenant,
		`{"settings": {"timezone": "Asia/Tokyo", "company_name": "Acme", "branding": {"primary_color": "#abcdef"}}}`), accept)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Settings().Update(ctx, admin, settingsPatch(t, tenant, `{"settings": {"company_name": "Acme"}}`), accept); err != nil {
		t.Fatal(err)
	}
	again, err := db.Settings().Get(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Values.Equal(st.Values) || *again.Values.Timezone != "Asia/Tokyo" || *again.Values.PrimaryColor != "#abcdef" {
		t.Errorf("stored %+v, returned %+v", again.Values, st.Values)
	}
	events := rowChanges(t, env, tenant, "settings.updated")
	want := []string{
		`{"timezone": {"new": "Europe/Paris"}, "primary_color": {"new": "#abcdef"}}`,
		`{"timezone": {"new": "Asia/Tokyo", "old": "Europe/Paris"}, "company_name": {"new": "Acme"}}`,
	}
	if len(events) != len(want) {
		t.Fatalf("%d settings.updated events, want %d: %v", len(events), len(want), events)
	}
	for i, e := range events {
		var w map[string]json.RawMessage
		json.Unmarshal([]byte(want[i]), &w)
		if b, _ := json.Marshal(e); !jsonEqual(t, b, []byte(want[i])) {
			t.Errorf("event %d changes %s, want %s", i, b, want[i])
		}
	}
	var actor, target string
	adminConn(t, env).QueryRow(ctx, `SELECT actor_id, target_type || ':' || target_id FROM audit_events
	                                  WHERE tenant_id = $1 AND action = 'settings.updated' LIMIT 1`, tenant).Scan(&actor, &target)
	if actor != owner.String() || target != "settings:"+tenant.String() {
		t.Errorf("event actor %s target %s", actor, target)
	}

	// null unsets: the column goes back to NULL.
	if _, err := db.Settings().Update(ctx, admin, settingsPatch(t, tenant, `{"settings": {"timezone": null}}`), accept); err != nil {
		t.Fatal(err)
	}
	if st, _ := db.Settings().Get(ctx, admin); st.Values.Timezone != nil || st.Document().Settings.Timezone != "UTC" {
		t.Errorf("timezone null: %v", st.Values.Timezone)
	}
}

func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

// A refusal of check writes nothing; a member cannot change settings even
// when no handler checked (the table's policy), and no one reaches another
// tenant's row.
func TestSettingsUpdateRefusals(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db, ctx := env.DB, context.Background()
	tenant, owner := newTenant(t, db, "pro")
	other, _ := newTenant(t, db, "pro")
	admin := orgScope(tenant, owner, tenantd.RoleOwner, nil)
	p := settingsPatch(t, tenant, `{"settings": {"company_name": "Changed"}}`)

	stale := tenantd.Errorf(tenantd.EPRECONDITION, "stale")
	if _, err := db.Settings().Update(ctx, admin, p, func(tenantd.StoredSettings) error { return stale }); err != stale {
		t.Errorf("a refused check: %v", err)
	}
	member := orgScope(tenant, owner, tenantd.RoleMember, nil)
	if _, err := db.Settings().Update(ctx, member, p, accept); tenantd.ErrorCode(err) != tenantd.ENOTFOUND {
		t.Errorf("a member's update: %v, want ENOTFOUND (the policy hides the row from FOR UPDATE)", err)
	}
	err := db.InTenant(ctx, admin, func(tx *postgres.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE tenant_settings SET company_name = 'Smuggled' WHERE tenant_id = $1`, other)
		if err == nil && tag.RowsAffected() != 0 {
			t.Errorf("updated another tenant's settings")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range []uuid.UUID{tenant, other} {
		if st, _ := db.Settings().Get(ctx, system(tn)); st.Values.CompanyName != nil {
			t.Errorf("tenant %s: company_name %q stored", tn, *st.Values.CompanyName)
		}
		if n := len(rowChanges(t, env, tn, "settings.updated")); n != 0 {
			t.Errorf("tenant %s: %d settings.updated events", tn, n)
		}
	}
}

// Two patches checked against the same version: the second waits for the
// first's row lock, then sees the first's change, so exactly one passes.
func TestSettingsConcurrentPatchesOneWins(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db, ctx := env.DB, context.Background()
	tenant, owner := newTenant(t, db, "pro")
	admin := orgScope(tenant, owner, tenantd.RoleOwner, nil)
	seen, err := db.Settings().Get(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	// The precondition of both: the settings are still those read above.
	ifMatch := func(cur tenantd.StoredSettings) error {
		if !cur.Values.Equal(seen.Values) {
			return tenantd.Errorf(tenantd.EPRECONDITION, "stale")
		}
		return nil
	}
	inFirst, release := make(chan struct{}), make(chan struct{})
	results := make(chan error, 2)
	go func() {
		_, err := db.Settings().Update(ctx, admin, settingsPatch(t, tenant, `{"settings": {"company_name": "First"}}`),
			func(cur tenantd.StoredSettings) error {
				close(inFirst)
				<-release // hold the row lock until the second patch waits for it
				return ifMatch(cur)
			})
		results <- err
	}()
	<-inFirst
	go func() {
		_, err := db.Settings().Update(ctx, admin, settingsPatch(t, tenant, `{"settings": {"company_name": "Second"}}`), ifMatch)
		results <- err
	}()
	waitForLockWaiter(t, env)
	close(release)
	var won, stale int
	for range 2 {
		switch err := <-results; tenantd.ErrorCode(err) {
		case "":
			won++
		case tenantd.EPRECONDITION:
			stale++
		default:
			t.Fatal(err)
		}
	}
	if won != 1 || stale != 1 {
		t.Fatalf("%d patches won, %d were stale; want one each", won, stale)
	}
	st, _ := db.Settings().Get(ctx, admin)
	if st.Values.CompanyName == nil || *st.Values.CompanyName != "First" {
		t.Errorf("company_name %v, want First", st.Values.CompanyName)
	}
	if n := len(rowChanges(t, env, tenant, "settings.updated")); n != 1 {
		t.Errorf("%d settings.updated events, want 1", n)
	}
}

// waitForLockWaiter returns once a session of the test's database waits
// for a lock.
func waitForLockWaiter(t testing.TB, env *testenv.Env) {
	t.Helper()
	c := adminConn(t, env)
	for {
		var n int
		if err := c.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
		                                             WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		runtime.Gosched()
	}
}
