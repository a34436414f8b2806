package postgres

import (
	"context"
	"fmt"
	"strings"
)

// VerifyAuditChains is `tenantd audit verify [--tenant SLUG]`: it verifies
// the chain of the tenant with that slug, or of every tenant when slug is
// empty. ENOTFOUND for an unknown slug.
func (db *DB) VerifyAuditChains(ctx context.Context, slug string) ([]VerifyResult, error) {
	if slug == "" {
		return db.VerifyAllAuditChains(ctx)
	}
	t, err := db.Platform().TenantBySlug(ctx, slug)
	if err != nil {
		return nil, err
	}
	r, err := db.VerifyAuditChain(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	r.Slug = t.Slug
	return []VerifyResult{r}, nil
}

// FormatVerify renders results for a terminal, one line per tenant and a
// summary, and reports whether every chain verified: the command exits
// non-zero when it did not. A verified chain's head is printed as seq:hash,
// the form `tenantd audit verify --expect` takes.
func FormatVerify(results []VerifyResult) (report string, ok bool) {
	var b strings.Builder
	broken := 0
	for _, r := range results {
		name := r.Slug
		if name == "" {
			name = r.TenantID.String()
		}
		if r.OK {
			fmt.Fprintf(&b, "ok      %s (%s): %d events, chain head %d:%x", name, r.TenantID, r.Events, r.HeadSeq, r.HeadHash)
			if r.Checkpoint > 0 {
				fmt.Fprintf(&b, ", signed checkpoint at %d holds", r.Checkpoint)
			}
			if r.Unsealed > 0 {
				fmt.Fprintf(&b, "; %d event(s) not sealed yet", r.Unsealed)
			}
			b.WriteString("\n")
			continue
		}
		broken++
		if r.BrokenSeq > 0 {
			fmt.Fprintf(&b, "BROKEN  %s (%s): first broken event is seq %d: %s\n", name, r.TenantID, r.BrokenSeq, r.Problem)
		} else {
			fmt.Fprintf(&b, "BROKEN  %s (%s): %s\n", name, r.TenantID, r.Problem)
		}
	}
	fmt.Fprintf(&b, "%d tenant(s) verified, %d broken\n", len(results), broken)
	return b.String(), broken == 0
}
