package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd/auth"
	"github.com/tenantd/tenantd/internal/pgtest"
	"github.com/tenantd/tenantd/postgres"
)

// headOf reads the seq:hash audit verify printed for a tenant.
func headOf(t *testing.T, out, slug string) string {
	t.Helper()
	m := regexp.MustCompile(`ok +` + slug + ` \(.*chain head ([0-9]+:[0-9a-f]{64})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no head for %s in:\n%s", slug, out)
	}
	return m[1]
}

// TestAuditVerifyAgainstCheckpoints: audit verify prints each head as
// seq:hash and holds a chain to a head recorded earlier (--expect) and to
// the signed checkpoints audit checkpoint appends; a truncated tail, a
// chain rewritten up to its head and an edited checkpoint each make it
// exit 1.
//
// Not parallel: it migrates a database of the package's cluster (see
// TestServeRefusesSuperuser).
func TestAuditVerifyAgainstCheckpoints(t *testing.T) {
	ctx := t.Context()
	super := pgtest.Cluster(t).SuperuserURL(pgtest.NewDatabase(t, ""))
	data := t.TempDir()
	env := map[string]string{"MIGRATE_DATABASE_URL": super, "TENANTD_DATA": data}
	if code, out, errOut := runCmd(t, env, "migrate"); code != 0 {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errOut)
	}
	if err := postgres.EnsureLoginRole(ctx, super, "cmd_audit_app", ""); err != nil {
		t.Fatal(err)
	}
	env["DATABASE_URL"] = postgres.WithUser(super, "cmd_audit_app")
	for _, slug := range []string{"initech", "hooli"} {
		if code, _, errOut := runCmd(t, env, "tenant", "create", "--slug", slug, "--name", slug,
			"--owner-email", "boss@"+slug+".example", "--owner-password", "a long enough password"); code != 0 {
			t.Fatalf("tenant create %s: exit %d\n%s", slug, code, errOut)
		}
	}
	conn, err := pgx.Connect(ctx, super)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	sql := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Two more events in initech's chain, written as the server would.
	sql(`SELECT set_config('app.context', (SELECT id::text FROM tenants WHERE slug = 'initech'), false)`)
	sql(`UPDATE tenants SET name = 'Initech Corp' WHERE slug = 'initech'`)
	sql(`UPDATE tenants SET name = 'Initech Inc' WHERE slug = 'initech'`)
	sql(`RESET app.context`)
	// Sealed into the chains, as a server's sealer does every second.
	if code, out, errOut := runCmd(t, env, "audit", "seal"); code != 0 || !strings.Contains(out, "of 2 tenant(s)") {
		t.Fatalf("audit seal: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runCmd(t, env, "audit", "seal", "--tenant", "initech"); code != 0 || !strings.Contains(out, "sealed 0 event(s) of initech") {
		t.Fatalf("audit seal --tenant: exit %d\n%s%s", code, out, errOut)
	}

	// With no checkpoint log: a warning, and the head to record.
	code, out, errOut := runCmd(t, env, "audit", "verify", "--tenant", "initech")
	if code != 0 || !strings.Contains(out, "warning: no checkpoint log") {
		t.Fatalf("audit verify: exit %d\n%s%s", code, out, errOut)
	}
	head := headOf(t, out, "initech")
	if code, out, _ := runCmd(t, env, "audit", "verify", "--tenant", "initech", "--expect", head); code != 0 {
		t.Fatalf("audit verify --expect %s: exit %d\n%s", head, code, out)
	}
	// The last event deleted and the head moved back: the chain alone
	// still verifies; against the recorded head it does not.
	sql(`DELETE FROM audit_events e USING tenants t WHERE t.id = e.tenant_id AND t.slug = 'initech'
	        AND e.seq = (SELECT seq FROM audit_heads h WHERE h.tenant_id = t.id)`)
	sql(`UPDATE audit_heads h SET seq = h.seq - 1, hash = (SELECT hash FROM audit_events e WHERE e.tenant_id = h.tenant_id AND e.seq = h.seq - 1)
	       FROM tenants t WHERE t.id = h.tenant_id AND t.slug = 'initech'`)
	if code, out, _ := runCmd(t, env, "audit", "verify", "--tenant", "initech"); code != 0 {
		t.Fatalf("the truncation is not clean: exit %d\n%s", code, out)
	}
	code, out, _ = runCmd(t, env, "audit", "verify", "--tenant", "initech", "--expect", head)
	if seq := strings.Split(head, ":")[0]; code != 1 || !strings.Contains(out, "first broken event is seq "+seq) || !strings.Contains(out, "deleted") {
		t.Fatalf("audit verify --expect after truncation: exit %d\n%s", code, out)
	}
	for _, bad := range [][]string{{"--expect", head}, {"--tenant", "initech", "--expect", "7:abc"}} {
		if code, _, errOut := runCmd(t, env, append([]string{"audit", "verify"}, bad...)...); code != 2 || !strings.Contains(errOut, "--expect") {
			t.Errorf("audit verify %v: exit %d\n%s", bad, code, errOut)
		}
	}

	// Checkpoints need the servers' master key.
	if code, _, errOut := runCmd(t, env, "audit", "checkpoint"); code != 1 || !strings.Contains(errOut, "master key") {
		t.Fatalf("audit checkpoint without a master key: exit %d\n%s", code, errOut)
	}
	if _, err := auth.LoadOrCreateMasterKey(filepath.Join(data, "master.key")); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCmd(t, env, "audit", "checkpoint")
	if code != 0 || strings.Count(out, "signed  ") != 2 {
		t.Fatalf("audit checkpoint: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCmd(t, env, "audit", "verify")
	if code != 0 || strings.Count(out, "signed checkpoint at") != 2 || strings.Contains(out, "warning") {
		t.Fatalf("audit verify against the checkpoints: exit %d\n%s", code, out)
	}
	if code, out, _ := runCmd(t, env, "audit", "checkpoint"); code != 0 || strings.Count(out, "same    ") != 2 {
		t.Fatalf("audit checkpoint with nothing new: exit %d\n%s", code, out)
	}

	// hooli's chain rewritten up to its head by a superuser who recomputes
	// every hash: caught by the checkpoint, and never signed.
	sql(fmt.Sprintf(`
DO $$
DECLARE
    tid  uuid := (SELECT id FROM tenants WHERE slug = 'hooli');
    prev bytea;
    s    bigint;
BEGIN
    UPDATE audit_events SET action = 'tenant.forged' WHERE tenant_id = tid AND seq = %d;
    SELECT hash INTO prev FROM audit_events WHERE tenant_id = tid AND seq = %d;
    FOR s IN SELECT seq FROM audit_events WHERE tenant_id = tid AND seq >= %d ORDER BY seq LOOP
        UPDATE audit_events e SET prev_hash = prev, hash = sha256(prev || convert_to(app.audit_canonical(e), 'UTF8'))
         WHERE tenant_id = tid AND seq = s RETURNING hash INTO prev;
    END LOOP;
    UPDATE audit_heads SET hash = prev WHERE tenant_id = tid;
END
$$`, 2, 1, 2))
	code, out, _ = runCmd(t, env, "audit", "verify")
	if code != 1 || !regexp.MustCompile(`BROKEN +hooli .*rewritten`).MatchString(out) || !strings.Contains(out, "1 broken") {
		t.Fatalf("audit verify after a rewrite to the head: exit %d\n%s", code, out)
	}
	if code, out, _ := runCmd(t, env, "audit", "checkpoint"); code != 1 || !strings.Contains(out, "BROKEN  hooli") {
		t.Fatalf("audit checkpoint of a rewritten chain: exit %d\n%s", code, out)
	}

	// An edited checkpoint log.
	file := filepath.Join(data, "audit-checkpoints.jsonl")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, bytes.Replace(raw, []byte(`"seq":`), []byte(`"seq":1`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCmd(t, env, "audit", "verify", "--tenant", "initech"); code != 1 || !strings.Contains(errOut, "line 1: its signature does not verify") {
		t.Fatalf("audit verify with an edited checkpoint: exit %d\n%s", code, errOut)
	}
}
