package auth

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// checkpointKeyInfo separates the checkpoint key from anything else that
// may ever be derived from the master key.
const checkpointKeyInfo = "tenantd audit checkpoint signing key v1"

// CheckpointKey derives the Ed25519 key that signs audit checkpoints from
// the master key (HKDF-SHA256). Every instance with the same master key
// derives the same key, nothing needs storing, and the database never sees
// it: whoever controls the database cannot sign a checkpoint. Called by
// cmd/tenantd for `serve` and the `audit` commands.
func CheckpointKey(master []byte) (ed25519.PrivateKey, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("%w: master key is %d bytes, want %d", ErrConfig, len(master), MasterKeySize)
	}
	seed, err := hkdf.Key(sha256.New, master, nil, checkpointKeyInfo, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
