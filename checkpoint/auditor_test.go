package checkpoint_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// rewriteFrom is the superuser's perfect forgery: it changes event seq and
// recomputes every hash from there to the head, and the head too, exactly
// as the sealer would have.
func rewriteFrom(t *testing.T, c *pgx.Conn, tenant uuid.UUID, seq int64) {
	t.Helper()
	exec(t, c, `UPDATE audit_events SET action = 'test.forged' WHERE tenant_id = $1 AND seq = $2`, tenant, seq)
	exec(t, c, fmt.Sprintf(`
DO $$
DECLARE
    prev bytea;
    s    bigint;
BEGIN
    SELECT prev_hash INTO prev FROM audit_events WHERE tenant_id = '%[1]s' AND seq = %[2]d;
    FOR s IN SELECT seq FROM audit_events WHERE tenant_id = '%[1]s' AND seq >= %[2]d ORDER BY seq LOOP
        UPDATE audit_events e SET prev_hash = prev, hash = sha256(prev || convert_to(app.audit_canonical(e), 'UTF8'))
         WHERE tenant_id = '%[1]s' AND seq = s RETURNING hash INTO prev;
    END LOOP;
    UPDATE audit_heads SET hash = prev WHERE tenant_id = '%[1]s';
END
$$`, tenant, seq))
}

// What a superuser can do to a chain without breaking a single link, and
// what only the signed checkpoint outside the database catches: the chain
// verifies by itself after each attack, never against its checkpoint, and
// the checkpointer refuses to sign it.
func TestCheckpointsCatchWhatTheChainCannot(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		attack func(t *testing.T, c *pgx.Conn, tenant uuid.UUID)
		broken int64
		want   string
	}{
		{"truncated tail", func(t *testing.T, c *pgx.Conn, tenant uuid.UUID) {
			exec(t, c, `DELETE FROM audit_events WHERE tenant_id = $1 AND seq > 5`, tenant)
			exec(t, c, `UPDATE audit_heads SET seq = 5, hash = (SELECT hash FROM audit_events WHERE tenant_id = $1 AND seq = 5) WHERE tenant_id = $1`, tenant)
		}, 6, "were deleted"},
		{"everything deleted and the head reset", func(t *testing.T, c *pgx.Conn, tenant uuid.UUID) {
			exec(t, c, `DELETE FROM audit_events WHERE tenant_id = $1`, tenant)
			exec(t, c, `UPDATE audit_heads SET seq = 0, hash = '\x' WHERE tenant_id = $1`, tenant)
		}, 1, "were deleted"},
		{"rewritten up to the head", func(t *testing.T, c *pgx.Conn, tenant uuid.UUID) {
			rewriteFrom(t, c, tenant, 3)
		}, 0, "the chain was rewritten"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			ctx := context.Background()
			victim := f.newTenant(t, 10)
			bystander := f.newTenant(t, 3)
			f.checkpoint(t)
			r := f.verify(t, victim)
			if !r.OK || r.Checkpoint != r.HeadSeq || r.Checkpoint < 10 {
				t.Fatalf("before the attack: %+v", r)
			}
			checkpointed := r.Checkpoint

			tc.attack(t, f.admin(t), victim)

			// The chain alone cannot tell.
			if r, err := f.env.DB.VerifyAuditChain(ctx, victim); err != nil || !r.OK {
				t.Fatalf("the attack is not clean: the chain alone fails: %+v, %v", r, err)
			}
			// The checkpoint can.
			r = f.verify(t, victim)
			want := tc.broken
			if want == 0 {
				want = checkpointed
			}
			if r.OK || r.BrokenSeq != want || !strings.Contains(r.Problem, tc.want) {
				t.Fatalf("verify against the checkpoint: %+v, want broken at %d (%q)", r, want, tc.want)
			}
			if r := f.verify(t, bystander); !r.OK {
				t.Fatalf("the bystander fails: %+v", r)
			}
			// The checkpointer never signs the forged chain, however much it grows.
			f.write(t, victim, 2)
			for _, o := range f.checkpoint(t) {
				if o.TenantID == victim && (o.OK || o.Signed) {
					t.Fatalf("the checkpointer accepted the attacked chain: %+v", o)
				}
			}
			if r := f.verify(t, victim); r.OK || r.Checkpoint != checkpointed {
				t.Fatalf("after another checkpoint round: %+v", r)
			}
		})
	}
}

// The checkpointer signs a chain's head when it moved, verifying only what
// was written since the last checkpoint, and nothing when it did not move.
func TestCheckpointFollowsTheHead(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newTenant(t, 2)
	b := f.newTenant(t, 2)
	first := f.checkpoint(t)
	for _, o := range first {
		if !o.OK || !o.Signed || o.Checkpoint != o.HeadSeq {
			t.Fatalf("first round: %+v", o)
		}
	}
	for _, o := range f.checkpoint(t) {
		if o.Signed || !o.OK {
			t.Fatalf("second round with nothing written: %+v", o)
		}
	}
	f.write(t, a, 3)
	for _, o := range f.checkpoint(t) {
		if o.TenantID == a && (!o.Signed || o.Events != 4) { // the checkpointed event and the 3 new ones
			t.Fatalf("after 3 writes to a: %+v", o)
		}
		if o.TenantID == b && o.Signed {
			t.Fatalf("b did not move but was signed: %+v", o)
		}
	}
	latest, err := f.store.Latest(context.Background())
	if err != nil || len(latest) != 2 {
		t.Fatalf("latest: %v, %v", latest, err)
	}
	if r := f.verify(t, a); !r.OK || r.Checkpoint != r.HeadSeq {
		t.Fatalf("a: %+v", r)
	}
}

// A tenant removed from the database along with its chain is caught by
// its checkpoints.
func TestCheckpointOfADeletedTenant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	victim := f.newTenant(t, 1)
	f.checkpoint(t)
	c := f.admin(t)
	for _, q := range []string{`DELETE FROM audit_events WHERE tenant_id = $1`, `DELETE FROM audit_heads WHERE tenant_id = $1`,
		`DELETE FROM users WHERE tenant_id = $1`, `DELETE FROM tenant_usage WHERE tenant_id = $1`, `DELETE FROM tenant_settings WHERE tenant_id = $1`,
		`DELETE FROM tenants WHERE id = $1`} {
		exec(t, c, q, victim)
	}
	if r := f.verify(t, victim); r.OK || !strings.Contains(r.Problem, "not in the database") {
		t.Fatalf("%+v", r)
	}
}
