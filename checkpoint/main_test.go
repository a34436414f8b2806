package checkpoint_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/checkpoint"
	"github.com/tenantd/tenantd/internal/pgtest"
	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var tenantCounter atomic.Int64

// fixture is a database with tenants, a checkpoint log in a temporary
// directory and an auditor over both.
type fixture struct {
	env     *testenv.Env
	key     *checkpoint.Key
	store   *checkpoint.FileStore
	auditor *checkpoint.Auditor
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := testenv.New(t)
	key := newKey(t)
	store := checkpoint.NewFileStore(filepath.Join(t.TempDir(), "audit-checkpoints.jsonl"), key)
	return &fixture{env: env, key: key, store: store,
		auditor: &checkpoint.Auditor{DB: env.DB, Store: store, Key: key}}
}

// newKey derives a checkpoint key from a fresh random master key.
func newKey(t *testing.T) *checkpoint.Key {
	t.Helper()
	master := make([]byte, 32)
	rand.Read(master)
	k, err := checkpoint.NewKey(master)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newTenant provisions a tenant with n audited writes after its creation.
func (f *fixture) newTenant(t *testing.T, writes int) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	slug := fmt.Sprintf("c%d-%s", tenantCounter.Add(1), uuid.NewString()[:8])
	tn, _, err := f.env.DB.Platform().CreateTenant(ctx, tenantd.NewTenant{Slug: slug, Name: "Tenant " + slug, Plan: "pro",
		OwnerEmail: "owner@" + slug + ".example", OwnerPasswordHash: "not-a-real-hash"}, tenantd.RequestInfo{ID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	f.write(t, tn.ID, writes)
	return tn.ID
}

// write records n events in a tenant's chain.
func (f *fixture) write(t *testing.T, tenant uuid.UUID, n int) {
	t.Helper()
	for i := range n {
		err := f.env.DB.Audit().Record(context.Background(), tenantd.SystemScope(tenant, tenantd.RequestInfo{ID: "test"}),
			tenantd.Event{Action: "test.written", TargetType: "thing", TargetID: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// admin is a superuser connection: the attacker.
// seal chains the tenant's events written so far, as the server's sealer
// does every second.
func (f *fixture) seal(t *testing.T, tenant uuid.UUID) {
	t.Helper()
	if _, err := f.env.DB.SealAudit(context.Background(), tenant); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) admin(t *testing.T) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), f.env.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func exec(t *testing.T, c *pgx.Conn, q string, args ...any) {
	t.Helper()
	if _, err := c.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// checkpoint runs the checkpointer and fails the test on an error.
func (f *fixture) checkpoint(t *testing.T) []checkpoint.Outcome {
	t.Helper()
	out, err := f.auditor.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// verify verifies one tenant's chain against the log.
func (f *fixture) verify(t *testing.T, tenant uuid.UUID) postgres.VerifyResult {
	t.Helper()
	results, err := f.auditor.Verify(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.TenantID == tenant {
			return r
		}
	}
	t.Fatalf("no result for tenant %s", tenant)
	return postgres.VerifyResult{}
}
