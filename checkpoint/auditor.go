package checkpoint

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/postgres"
)

// Auditor holds the audit chains in the database to the signed checkpoints
// kept outside it.
type Auditor struct {
	DB *postgres.DB
	// Store is the checkpoint log; nil when there is none, and then Verify
	// checks the chains by themselves, which cannot catch a deleted tail or
	// a chain rewritten up to its head.
	Store tenantd.CheckpointStore
	// Key signs new checkpoints; Checkpoint needs it.
	Key *Key
	Log *slog.Logger
}

// latestHeads reads the latest head checkpoint of every tenant.
func (a *Auditor) latestHeads(ctx context.Context) (map[uuid.UUID]tenantd.Checkpoint, error) {
	heads := map[uuid.UUID]tenantd.Checkpoint{}
	if a.Store == nil {
		return heads, nil
	}
	latest, err := a.Store.Latest(ctx)
	if err != nil {
		return nil, err
	}
	for _, cp := range latest {
		if cp.Kind == tenantd.CheckpointHead {
			heads[cp.TenantID] = cp
		}
	}
	return heads, nil
}

// Verify verifies the chain of the tenant with that slug, or of every
// tenant when slug is empty, against its latest signed checkpoint (the
// chain must still hold that event with that hash, so its head is at or
// beyond it) and the points in expect (heads an operator recorded
// elsewhere). Every tenant: a tenant the log has checkpoints of that is no
// longer in the database is reported broken too. ENOTFOUND for an unknown
// slug; an error if the log itself is broken (edited, forged, truncated).
// For `tenantd audit verify` and the server's scheduled checks.
func (a *Auditor) Verify(ctx context.Context, slug string, expect ...tenantd.ChainPoint) ([]postgres.VerifyResult, error) {
	heads, err := a.latestHeads(ctx)
	if err != nil {
		return nil, err
	}
	var tenants []*tenantd.Tenant
	if slug != "" {
		t, err := a.DB.TenantBySlug(ctx, slug)
		if err != nil {
			return nil, err
		}
		tenants = []*tenantd.Tenant{t}
	} else if tenants, err = a.DB.ListTenants(ctx); err != nil {
		return nil, err
	}
	out := make([]postgres.VerifyResult, 0, len(tenants))
	for _, t := range tenants {
		points := expect
		head, anchored := heads[t.ID]
		if anchored {
			points = append([]tenantd.ChainPoint{head.ChainPoint}, expect...)
		}
		r, err := a.DB.VerifyAuditChain(ctx, t.ID, points...)
		if err != nil {
			return out, fmt.Errorf("verify tenant %s: %w", t.Slug, err)
		}
		r.Slug = t.Slug
		if anchored {
			r.Checkpoint = head.Seq
		}
		out = append(out, r)
		delete(heads, t.ID)
	}
	if slug == "" {
		for id, head := range heads {
			out = append(out, postgres.VerifyResult{TenantID: id, Checkpoint: head.Seq, BrokenSeq: 1,
				Problem: fmt.Sprintf("a signed checkpoint holds this tenant's chain up to event %d, but the tenant is not in the database: deleted", head.Seq)})
		}
	}
	return out, nil
}

// Outcome is what Checkpoint did with one tenant's chain.
type Outcome struct {
	postgres.VerifyResult
	// Signed says a checkpoint of the chain's head was appended; false when
	// the chain is broken (never signed) or has not moved since its last
	// checkpoint.
	Signed bool
}

// Checkpoint appends a signed checkpoint of every tenant's chain head that
// moved since its last checkpoint, after verifying the chain from that
// checkpoint on (the whole chain when it has none): a chain that does not
// verify is never signed, and is reported. For `tenantd serve`, every few
// minutes, and `tenantd audit checkpoint`.
func (a *Auditor) Checkpoint(ctx context.Context) ([]Outcome, error) {
	if a.Store == nil || a.Key == nil {
		return nil, fmt.Errorf("checkpoint: no checkpoint log or key")
	}
	heads, err := a.latestHeads(ctx)
	if err != nil {
		return nil, err
	}
	tenants, err := a.DB.ListTenants(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Outcome, 0, len(tenants))
	var signed []tenantd.Checkpoint
	var failed error
	for _, t := range tenants {
		last := heads[t.ID]
		r, err := a.DB.VerifyAuditChainFrom(ctx, t.ID, last.ChainPoint)
		if err != nil {
			failed = fmt.Errorf("checkpoint tenant %s: %w", t.Slug, err)
			break
		}
		r.Slug, r.Checkpoint = t.Slug, last.Seq
		o := Outcome{VerifyResult: r}
		if r.OK && r.HeadSeq > last.Seq {
			signed = append(signed, a.Key.Sign(tenantd.Checkpoint{TenantID: t.ID, Kind: tenantd.CheckpointHead,
				ChainPoint: tenantd.ChainPoint{Seq: r.HeadSeq, Hash: r.HeadHash}, At: time.Now()}))
			o.Signed, o.Checkpoint = true, r.HeadSeq
		}
		out = append(out, o)
	}
	// What verified before a failure is still worth keeping.
	if err := a.Store.Append(ctx, signed); err != nil {
		return out, err
	}
	return out, failed
}

// Run checkpoints at once and then every interval until ctx is done,
// logging what it signed and, at error level, every chain it found broken.
func (a *Auditor) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		a.runOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Auditor) runOnce(ctx context.Context) {
	log := a.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	outcomes, err := a.Checkpoint(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("audit checkpoint failed", "err", err)
		}
		return
	}
	n := 0
	for _, o := range outcomes {
		if o.Signed {
			n++
		}
		if !o.OK {
			log.Error("audit chain broken: not checkpointed", "tenant_id", o.TenantID, "tenant", o.Slug,
				"broken_seq", o.BrokenSeq, "problem", o.Problem)
		}
	}
	log.Info("audit checkpoints appended", "signed", n, "tenants", len(outcomes))
}
