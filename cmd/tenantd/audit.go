package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/auth"
	"github.com/tenantd/tenantd/checkpoint"
	api "github.com/tenantd/tenantd/http"
	"github.com/tenantd/tenantd/postgres"
)

func cmdAudit(ctx context.Context, c *cli, args []string) error {
	return subcommand(ctx, c, "audit", args, map[string]func(context.Context, *cli, []string) error{
		"verify":     cmdAuditVerify,
		"checkpoint": cmdAuditCheckpoint,
		"seal":       cmdAuditSeal,
	})
}

// checkpointsPath is the checkpoint log: flag, else
// TENANTD_AUDIT_CHECKPOINTS, else $TENANTD_DATA/audit-checkpoints.jsonl.
func checkpointsPath(c *cli, flag string) string {
	if flag != "" {
		return flag
	}
	return c.config("TENANTD_AUDIT_CHECKPOINTS", filepath.Join(c.dataDir(), "audit-checkpoints.jsonl"))
}

// checkpointKey derives the checkpoint key from the servers' master key.
func checkpointKey(c *cli) (*checkpoint.Key, error) {
	master, err := masterKey(c, false)
	if err != nil {
		return nil, err
	}
	return checkpoint.NewKey(master)
}

// cmdAuditVerify recomputes the hash chain of one tenant's audit log (or of
// every tenant's), holds each to its latest signed checkpoint and to the
// heads given with --expect, prints each head's seq and hash, and exits 1
// naming the first broken event.
func cmdAuditVerify(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "audit verify", "audit verify [--tenant SLUG] [--expect SEQ:HASH] [--checkpoints FILE]")
	slug := fs.String("tenant", "", "verify only this tenant (default: every tenant)")
	expectFlag := fs.String("expect", "", "with --tenant: a head recorded earlier (seq:hex-hash, as printed); the chain must still hold it")
	path := fs.String("checkpoints", "", "the signed checkpoint log (default $TENANTD_AUDIT_CHECKPOINTS or $TENANTD_DATA/audit-checkpoints.jsonl)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var expect []tenantd.ChainPoint
	if *expectFlag != "" {
		p, err := parseChainPoint(*expectFlag)
		if err != nil || *slug == "" {
			if err == nil {
				err = errors.New("--expect needs --tenant")
			}
			fmt.Fprintln(c.stderr, err)
			fs.Usage()
			return exitError{2}
		}
		expect = append(expect, p)
	}
	auditor := &checkpoint.Auditor{}
	file := checkpointsPath(c, *path)
	if _, err := os.Stat(file); err == nil {
		key, err := checkpointKey(c)
		if err != nil {
			return fmt.Errorf("the checkpoint log %s is signed with a key derived from the master key: %w", file, err)
		}
		auditor.Store = checkpoint.NewFileStore(file, key)
	} else if !errors.Is(err, iofs.ErrNotExist) || *path != "" {
		return err
	} else {
		fmt.Fprintf(c.stdout, "warning: no checkpoint log at %s: a deleted tail or a chain rewritten up to its head cannot be detected (tenantd serve writes one; or run tenantd audit checkpoint)\n", file)
	}
	db, err := openDatabase(ctx, c)
	if err != nil {
		return err
	}
	defer db.close()
	auditor.DB = db.DB
	results, err := auditor.Verify(ctx, *slug, expect...)
	if err != nil {
		return err
	}
	report, ok := postgres.FormatVerify(results)
	fmt.Fprint(c.stdout, report)
	if !ok {
		return exitError{1}
	}
	return nil
}

// cmdAuditCheckpoint appends a signed checkpoint of every tenant's chain
// head that moved since its last one, after verifying the chain from there;
// exits 1 naming any chain it found broken (and did not sign).
func cmdAuditCheckpoint(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "audit checkpoint", "audit checkpoint [--checkpoints FILE]")
	path := fs.String("checkpoints", "", "the signed checkpoint log (default $TENANTD_AUDIT_CHECKPOINTS or $TENANTD_DATA/audit-checkpoints.jsonl)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	key, err := checkpointKey(c)
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, c)
	if err != nil {
		return err
	}
	defer db.close()
	file := checkpointsPath(c, *path)
	auditor := &checkpoint.Auditor{DB: db.DB, Store: checkpoint.NewFileStore(file, key), Key: key}
	outcomes, err := auditor.Checkpoint(ctx)
	broken := 0
	for _, o := range outcomes {
		name := o.Slug
		switch {
		case !o.OK:
			broken++
			fmt.Fprintf(c.stdout, "BROKEN  %s (%s): not checkpointed: event %d: %s\n", name, o.TenantID, o.BrokenSeq, o.Problem)
		case o.Signed:
			fmt.Fprintf(c.stdout, "signed  %s (%s): chain head %d:%x\n", name, o.TenantID, o.HeadSeq, o.HeadHash)
		default:
			fmt.Fprintf(c.stdout, "same    %s (%s): chain head at %d, as checkpointed\n", name, o.TenantID, o.HeadSeq)
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "checkpoints appended to %s; %d broken chain(s)\n", file, broken)
	if broken > 0 {
		return exitError{1}
	}
	return nil
}

// cmdAuditSeal chains the audit events written and not sealed yet, now
// (what every `tenantd serve` does every TENANTD_AUDIT_SEAL_EVERY), of one
// tenant or of every tenant.
func cmdAuditSeal(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "audit seal", "audit seal [--tenant SLUG]")
	slug := fs.String("tenant", "", "seal only this tenant (default: every tenant)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	db, err := openDatabase(ctx, c)
	if err != nil {
		return err
	}
	defer db.close()
	if *slug != "" {
		t, err := db.Platform().TenantBySlug(ctx, *slug)
		if err != nil {
			return err
		}
		n, err := db.SealAudit(ctx, t.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "sealed %d event(s) of %s\n", n, t.Slug)
		return nil
	}
	run, err := db.SealAllAudit(ctx)
	fmt.Fprintf(c.stdout, "sealed %d event(s) of %d tenant(s)\n", run.Sealed, run.Tenants)
	return err
}

// parseChainPoint parses "seq:hex-hash".
func parseChainPoint(s string) (tenantd.ChainPoint, error) {
	seqText, hashText, ok := strings.Cut(s, ":")
	seq, err := strconv.ParseInt(seqText, 10, 64)
	hash, herr := hex.DecodeString(hashText)
	if !ok || err != nil || seq < 1 || herr != nil || len(hash) != sha256.Size {
		return tenantd.ChainPoint{}, fmt.Errorf("--expect %q: want SEQ:HASH, a seq and its 64 hex digit hash as audit verify prints them", s)
	}
	return tenantd.ChainPoint{Seq: seq, Hash: hash}, nil
}

func cmdOperator(ctx context.Context, c *cli, args []string) error {
	return subcommand(ctx, c, "operator", args, map[string]func(context.Context, *cli, []string) error{
		"token": cmdOperatorToken,
	})
}

// cmdOperatorToken mints a short-lived platform operator token: its own
// audience and type, so it works only on the platform security routes and a
// tenant user's token never works there.
func cmdOperatorToken(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "operator token", "operator token [--operator UUID] [--ttl 15m]")
	id := fs.String("operator", "", "the operator's id (default: a new one, printed to stderr)")
	ttl := fs.Duration("ttl", 15*time.Minute, "token lifetime (at most 1h)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	op := uuid.New()
	if *id != "" {
		var err error
		if op, err = uuid.Parse(*id); err != nil {
			return fmt.Errorf("--operator must be a UUID")
		}
	} else {
		fmt.Fprintln(c.stderr, "operator id:", op)
	}
	master, err := masterKey(c, false)
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, c)
	if err != nil {
		return err
	}
	defer db.close()
	ring := &auth.KeyRing{Store: db.Keys(), Master: master}
	if err := ring.Refresh(ctx); err != nil {
		return err
	}
	tok, err := api.MintOperatorToken(ring.Keys, c.config("TENANTD_ISSUER", "tenantd"), "", op, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, tok)
	return nil
}
