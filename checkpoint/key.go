// Package checkpoint anchors the audit hash chains outside the database:
// signed checkpoints of every tenant's chain head, kept in an append-only
// log (a JSONL file by default), and verification of the chains against
// them. A superuser of the database can rewrite a chain and recompute every
// hash, delete its tail, or reset its head; none of these matches the
// latest checkpoint, which only the master key's holder can sign.
//
// cmd/tenantd wires it: `tenantd serve` checkpoints every few minutes,
// `tenantd audit checkpoint` on demand, `tenantd audit verify` checks.
// docs/audit-chain.md describes the chain and the checkpoints.
package checkpoint

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/auth"
)

// Key signs checkpoints and verifies their signatures: the Ed25519 key
// derived from the master key (auth.CheckpointKey).
type Key struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	id   string
}

// NewKey derives the checkpoint key from the master key.
func NewKey(master []byte) (*Key, error) {
	priv, err := auth.CheckpointKey(master)
	if err != nil {
		return nil, err
	}
	pub := priv.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	return &Key{priv: priv, pub: pub, id: hex.EncodeToString(sum[:8])}, nil
}

// ID names the key in every checkpoint it signs: the first 8 bytes of the
// SHA-256 of its public key, in hex.
func (k *Key) ID() string { return k.id }

// Sign returns cp signed: its time truncated to microseconds, its key id
// and signature set.
func (k *Key) Sign(cp tenantd.Checkpoint) tenantd.Checkpoint {
	cp.At = cp.At.UTC().Truncate(time.Microsecond)
	cp.KeyID = k.id
	cp.Sig = ed25519.Sign(k.priv, signedBytes(cp))
	return cp
}

// Verify checks that cp is well formed and was signed by this key.
func (k *Key) Verify(cp tenantd.Checkpoint) error {
	switch {
	case cp.Kind != tenantd.CheckpointHead && cp.Kind != tenantd.CheckpointOrigin:
		return fmt.Errorf("unknown kind %q", cp.Kind)
	case cp.Seq < 1 || len(cp.Hash) != sha256.Size:
		return errors.New("no event in it (seq below 1 or not a SHA-256 hash)")
	case cp.KeyID != k.id:
		return fmt.Errorf("signed by key %q, not by this master key's checkpoint key %q (was the master key changed?)", cp.KeyID, k.id)
	case !ed25519.Verify(k.pub, signedBytes(cp), cp.Sig):
		return errors.New("its signature does not verify: edited or forged")
	}
	return nil
}

// signedBytes is what a checkpoint's signature covers.
func signedBytes(cp tenantd.Checkpoint) []byte {
	return fmt.Appendf(nil, "tenantd audit checkpoint v1\ntenant %s\nkind %s\nseq %d\nhash %x\nat %d\n",
		cp.TenantID, cp.Kind, cp.Seq, cp.Hash, cp.At.UnixMicro())
}
