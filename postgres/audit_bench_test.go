package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd/internal/testenv"
	"github.com/tenantd/tenantd/postgres"
)

// The cost of the audit event of a write (targets: audited ÷ plain
// throughput at least 0.85 for one writer and 0.8 for six writers of one
// tenant, and no extra round trip). The same UPDATE of a workspace through
// db.Run runs against two databases of the same cluster in the same run:
// one as migrated, where the row trigger records the event in the same
// transaction and the sealer chains it (every second, alongside, as in a
// server), and one where the trigger is disabled. Writes alternate
// between the two, so drift in the machine's speed hits both alike.
//
// throughput-ratio is plain time ÷ audited time; sealed-ratio also counts
// in the audited time the final round that seals what the sealer had not
// reached when the writes ended, so that everything written is chained:
// the cost of the whole audit, sealing included.

type auditBenchTarget struct {
	db     *postgres.DB
	tenant uuid.UUID
	ws     []uuid.UUID
}

func auditBenchTargets(b *testing.B, workspaces int) (audited, plain auditBenchTarget) {
	b.Helper()
	mk := func(disable bool) auditBenchTarget {
		env := testenv.New(b)
		if disable {
			exec(b, adminConn(b, env), `ALTER TABLE workspaces DISABLE TRIGGER audit_row`)
		}
		tn, _ := newTenant(b, env.DB, "enterprise")
		t := auditBenchTarget{db: env.DB, tenant: tn}
		for i := range workspaces {
			t.ws = append(t.ws, createWorkspace(b, env.DB, tn, fmt.Sprint("bench-", i)))
		}
		return t
	}
	return mk(false), mk(true)
}

// sealAlongside runs the sealer on the audited database, every second as
// in a server, until the benchmark ends.
func sealAlongside(b *testing.B, t auditBenchTarget) {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.db.RunSealer(ctx, time.Second, func(_ postgres.SealRun, err error) {
			if err != nil && ctx.Err() == nil {
				b.Error(err)
			}
		})
	}()
	b.Cleanup(func() { stop(); <-done })
}

// sealRest seals what is left, timed.
func sealRest(b *testing.B, t auditBenchTarget) time.Duration {
	start := time.Now()
	if _, err := t.db.SealAudit(context.Background(), t.tenant); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

func (t auditBenchTarget) write(ctx context.Context, ws uuid.UUID, i int) error {
	return t.db.Run(ctx, system(t.tenant), postgres.Statement{
		SQL:  `UPDATE workspaces SET description = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2`,
		Args: []any{t.tenant, ws, fmt.Sprint("rev ", i)},
	})
}

// BenchmarkAuditedWrite: one writer, audited and plain writes alternating.
func BenchmarkAuditedWrite(b *testing.B) {
	audited, plain := auditBenchTargets(b, 1)
	ctx := context.Background()
	var spent [2]time.Duration
	var trips [2]int64
	sealRest(b, audited)
	sealAlongside(b, audited)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k, t := range []auditBenchTarget{audited, plain} {
			before, start := t.db.RoundTrips(), time.Now()
			if err := t.write(ctx, t.ws[0], i); err != nil {
				b.Fatal(err)
			}
			spent[k] += time.Since(start)
			trips[k] += t.db.RoundTrips() - before
		}
	}
	reportAuditCost(b, spent, trips, sealRest(b, audited), float64(b.N))
}

// BenchmarkAuditedWriteParallel: six writers of one tenant (its whole share
// of the pool), each on its own workspace, so that what serialises them is
// the tenant's chain head; the two databases take turns in short phases.
func BenchmarkAuditedWriteParallel(b *testing.B) {
	const writers, phase = 6, 50
	audited, plain := auditBenchTargets(b, writers)
	ctx := context.Background()
	var spent [2]time.Duration
	var trips [2]int64
	done := 0
	sealRest(b, audited)
	sealAlongside(b, audited)
	b.ResetTimer()
	for done < b.N {
		n := min(phase, b.N-done)
		for k, t := range []auditBenchTarget{audited, plain} {
			before, start := t.db.RoundTrips(), time.Now()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range n {
						if err := t.write(ctx, t.ws[w], done+i); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			spent[k] += time.Since(start)
			trips[k] += t.db.RoundTrips() - before
		}
		done += n
	}
	reportAuditCost(b, spent, trips, sealRest(b, audited), float64(b.N*writers))
}

// reportAuditCost reports each side's time per write, the throughput ratio
// (plain time / audited time: 0.95 means the event costs 5% of
// throughput), the same with the final sealing round in the audited time,
// and the round trips per write of each side.
func reportAuditCost(b *testing.B, spent [2]time.Duration, trips [2]int64, rest time.Duration, writes float64) {
	b.ReportMetric(float64(spent[0].Nanoseconds())/writes, "audited-ns/write")
	b.ReportMetric(float64(spent[1].Nanoseconds())/writes, "plain-ns/write")
	b.ReportMetric(spent[1].Seconds()/spent[0].Seconds(), "throughput-ratio")
	b.ReportMetric(spent[1].Seconds()/(spent[0]+rest).Seconds(), "sealed-ratio")
	b.ReportMetric(float64(trips[0])/writes, "audited-trips/write")
	b.ReportMetric(float64(trips[1])/writes, "plain-trips/write")
}
