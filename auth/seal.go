package auth

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
)

// Private keys are stored sealed: AES-256-GCM under a 32-byte master key that
// never enters the database (see [LoadOrCreateMasterKey]), with the kid as
// associated data so a sealed key cannot be moved to another key's row.
//
// Sealed layout: version byte (1) | 12-byte nonce | ciphertext of PKCS#8 DER | GCM tag.

const sealVersion = 1

// MasterKeySize is the size of the master key in bytes.
const MasterKeySize = 32

// SealPrivateKey encrypts k's private key for storage. Called by [KeyRing]
// when it stores a new key.
func SealPrivateKey(master []byte, k Key) ([]byte, error) {
	if k.Private == nil {
		return nil, fmt.Errorf("%w: key %s has no private part to seal", ErrConfig, k.ID)
	}
	if err := checkPublic(k.Alg, k.Public); err != nil {
		return nil, err
	}
	if err := checkPrivate(k.Alg, k.Public, k.Private); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return nil, fmt.Errorf("auth: marshal private key: %w", err)
	}
	defer clear(der)
	aead, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(der)+aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:])
	return aead.Seal(out, out[1:], der, []byte(k.ID)), nil
}

// OpenPrivateKey decrypts a key sealed by [SealPrivateKey] for key kid and
// checks that it is a key of algorithm alg. It fails if master, kid or the
// sealed bytes are not the ones it was sealed with.
func OpenPrivateKey(master []byte, kid, alg string, sealed []byte) (crypto.Signer, error) {
	aead, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(sealed) < 1+n+aead.Overhead() || sealed[0] != sealVersion {
		return nil, errors.New("auth: sealed private key: unknown format")
	}
	der, err := aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("auth: sealed private key %s: wrong master key or altered data", kid)
	}
	defer clear(der)
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("auth: sealed private key %s: %w", kid, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("auth: sealed private key %s is a %T", kid, priv)
	}
	if err := checkPublic(alg, signer.Public()); err != nil {
		return nil, err
	}
	return signer, nil
}

func newAEAD(master []byte) (cipher.AEAD, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("%w: master key is %d bytes, want %d", ErrConfig, len(master), MasterKeySize)
	}
	block, err := aes.NewCipher(master)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
