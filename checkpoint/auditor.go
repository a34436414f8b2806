package checkpoint

import (
	"context"
	"errors"
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

// anchors are a tenant's latest signed checkpoints.
type anchors struct {
	head, origin *tenantd.Checkpoint
}

// points are the anchors as points the chain must hold.
func (an anchors) points() []tenantd.ChainPoint {
	var out []tenantd.ChainPoint
	for _, cp := range []*tenantd.Checkpoint{an.head, an.origin} {
		if cp != nil {
			out = append(out, cp.ChainPoint)
		}
	}
	return out
}

// checkOrigin fails a verified chain whose origin lies beyond its latest
// signed origin: its oldest events were deleted by someone who could not
// sign for it. (An origin at the signed one must match it, and one before
// it must still hold it: VerifyAuditChain checks both as points.)
func (an anchors) checkOrigin(r *postgres.VerifyResult) {
	signed := int64(0)
	if an.origin != nil {
		signed = an.origin.Seq
	}
	if r.OK && r.Origin.Seq > signed {
		r.OK, r.BrokenSeq = false, signed+1
		r.Problem = fmt.Sprintf("events %d to %d were purged without a signed origin checkpoint (the chain now starts after %d): deleted out of band",
			signed+1, r.Origin.Seq, r.Origin.Seq)
	}
}

// latest reads the latest checkpoints of every tenant.
func (a *Auditor) latest(ctx context.Context) (map[uuid.UUID]anchors, error) {
	out := map[uuid.UUID]anchors{}
	if a.Store == nil {
		return out, nil
	}
	latest, err := a.Store.Latest(ctx)
	if err != nil {
		return nil, err
	}
	for _, cp := range latest {
		an := out[cp.TenantID]
		switch cp.Kind {
		case tenantd.CheckpointHead:
			an.head = &cp
		case tenantd.CheckpointOrigin:
			an.origin = &cp
		}
		out[cp.TenantID] = an
	}
	return out, nil
}

// verify verifies one tenant's chain against its anchors, from its latest
// head checkpoint on when incremental (else in full). A purge can sign a
// new origin and move the chain's origin between reading the log and
// reading the chain: an origin beyond the signed one is checked once more
// against a fresh read of the log before it counts as broken.
func (a *Auditor) verify(ctx context.Context, t *tenantd.Tenant, latest map[uuid.UUID]anchors, incremental bool, expect []tenantd.ChainPoint) (postgres.VerifyResult, error) {
	for retried := false; ; retried = true {
		an := latest[t.ID]
		var r postgres.VerifyResult
		var err error
		if incremental && an.head != nil {
			var origin []tenantd.ChainPoint
			if an.origin != nil {
				origin = append(origin, an.origin.ChainPoint)
			}
			r, err = a.DB.VerifyAuditChainFrom(ctx, t.ID, an.head.ChainPoint, append(origin, expect...)...)
		} else {
			r, err = a.DB.VerifyAuditChain(ctx, t.ID, append(an.points(), expect...)...)
		}
		if err != nil {
			return r, fmt.Errorf("verify tenant %s: %w", t.Slug, err)
		}
		r.Slug = t.Slug
		if an.head != nil {
			r.Checkpoint = an.head.Seq
		}
		if a.Store == nil {
			return r, nil
		}
		an.checkOrigin(&r)
		if r.OK || r.Origin.Seq == 0 || retried {
			return r, nil
		}
		fresh, err := a.latest(ctx)
		if err != nil {
			return r, err
		}
		latest[t.ID] = fresh[t.ID]
	}
}

// Verify verifies the chain of the tenant with that slug, or of every
// tenant when slug is empty, in full, against its latest signed
// checkpoints (the chain must still hold the head checkpoint's event with
// its hash, so its head is at or beyond it; its origin must be the latest
// signed origin, or before it) and the points in expect (heads an operator
// recorded elsewhere). A tenant the log has checkpoints of that is no
// longer in the database is reported broken too. ENOTFOUND for an unknown
// slug; an error if the log itself is broken (edited, forged, shortened).
// For `tenantd audit verify` and the server's scheduled checks.
func (a *Auditor) Verify(ctx context.Context, slug string, expect ...tenantd.ChainPoint) ([]postgres.VerifyResult, error) {
	latest, err := a.latest(ctx)
	if err != nil {
		return nil, err
	}
	var tenants []*tenantd.Tenant
	if slug != "" {
		t, err := a.DB.Platform().TenantBySlug(ctx, slug)
		if err != nil {
			return nil, err
		}
		tenants = []*tenantd.Tenant{t}
	} else if tenants, err = a.DB.Platform().ListTenants(ctx); err != nil {
		return nil, err
	}
	out := make([]postgres.VerifyResult, 0, len(tenants))
	for _, t := range tenants {
		r, err := a.verify(ctx, t, latest, false, expect)
		if err != nil {
			return out, err
		}
		out = append(out, r)
		delete(latest, t.ID)
	}
	if slug == "" {
		for id, an := range latest {
			if an.head == nil {
				continue
			}
			out = append(out, postgres.VerifyResult{TenantID: id, Checkpoint: an.head.Seq, BrokenSeq: 1,
				Problem: fmt.Sprintf("a signed checkpoint holds this tenant's chain up to event %d, but the tenant is not in the database: deleted", an.head.Seq)})
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

// Checkpoint seals the events written so far (so that the checkpoints
// cover them), then appends a signed checkpoint of every tenant's chain
// head that moved since its last checkpoint, after verifying the chain
// from that checkpoint on (the whole chain when it has none): a chain that
// does not verify is never signed, and is reported. For `tenantd serve`,
// every few minutes, and `tenantd audit checkpoint`.
func (a *Auditor) Checkpoint(ctx context.Context) ([]Outcome, error) {
	if a.Store == nil || a.Key == nil {
		return nil, errors.New("checkpoint: no checkpoint log or key")
	}
	if _, err := a.DB.SealAllAudit(ctx); err != nil {
		return nil, err
	}
	latest, err := a.latest(ctx)
	if err != nil {
		return nil, err
	}
	tenants, err := a.DB.Platform().ListTenants(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Outcome, 0, len(tenants))
	var signed []tenantd.Checkpoint
	var failed error
	for _, t := range tenants {
		r, err := a.verify(ctx, t, latest, true, nil)
		if err != nil {
			failed = err
			break
		}
		o := Outcome{VerifyResult: r}
		if r.OK && r.HeadSeq > r.Checkpoint {
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

// Purge deletes a tenant's oldest audit events (postgres.PurgeAuditBefore)
// and keeps the chain verifiable: it seals what was written (only sealed
// events are purged), verifies the whole chain against its checkpoints and
// refuses a broken one (a purge would destroy the evidence), then signs the
// last event to go as the chain's new origin and appends that checkpoint
// before anything is deleted. For the retention job.
func (a *Auditor) Purge(ctx context.Context, tenantID uuid.UUID, before postgres.PurgeBefore) (postgres.AuditPurge, error) {
	if a.Store == nil || a.Key == nil {
		return postgres.AuditPurge{}, errors.New("checkpoint: no checkpoint log or key")
	}
	if _, err := a.DB.SealAudit(ctx, tenantID); err != nil {
		return postgres.AuditPurge{}, err
	}
	latest, err := a.latest(ctx)
	if err != nil {
		return postgres.AuditPurge{}, err
	}
	r, err := a.verify(ctx, &tenantd.Tenant{ID: tenantID, Slug: tenantID.String()}, latest, false, nil)
	if err != nil {
		return postgres.AuditPurge{}, err
	}
	if !r.OK {
		return postgres.AuditPurge{}, fmt.Errorf("checkpoint: refusing to purge tenant %s's broken audit chain (event %d: %s): the purge would destroy the evidence",
			tenantID, r.BrokenSeq, r.Problem)
	}
	return a.DB.PurgeAuditBefore(ctx, tenantID, before, func(ctx context.Context, last tenantd.ChainPoint) error {
		return a.Store.Append(ctx, []tenantd.Checkpoint{a.Key.Sign(tenantd.Checkpoint{TenantID: tenantID,
			Kind: tenantd.CheckpointOrigin, ChainPoint: last, At: time.Now()})})
	})
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
