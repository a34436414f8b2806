package auth

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// StoredKey is a Key in the form it is stored: the public part as PKIX DER,
// the private part sealed under the master key by [SealPrivateKey].
type StoredKey struct {
	ID            string
	Alg           string
	Public        []byte // PKIX DER
	SealedPrivate []byte
	CreatedAt     time.Time
	NotAfter      time.Time // zero while active or pending
	Active        bool
}

// KeyStore keeps the signing keys between restarts and shares them between
// instances. Implemented by package postgres (a platform table, not tenant
// data); called only by [KeyRing].
type KeyStore interface {
	// SigningKeys returns every stored key, in any order.
	SigningKeys(ctx context.Context) ([]StoredKey, error)
	// AddSigningKey stores a new key (inactive, NotAfter zero).
	AddSigningKey(ctx context.Context, k StoredKey) error
	// ActivateSigningKey makes kid the only active key, in one transaction:
	// every other key whose NotAfter is zero gets Active = false and
	// NotAfter = retireAt.
	ActivateSigningKey(ctx context.Context, kid string, retireAt time.Time) error
	// DeleteSigningKeys deletes the keys whose NotAfter is before t.
	DeleteSigningKeys(ctx context.Context, before time.Time) error
}

// KeyRing defaults.
const (
	DefaultRotateAfter = 30 * 24 * time.Hour
	DefaultPublishFor  = 10 * time.Minute
)

// KeyRing loads the keys from a KeyStore, rotates them and holds the
// current [KeySet] for the Issuer, the Verifier and the JWKS endpoint.
// cmd/tenantd calls Refresh at start-up and then periodically, on every
// instance, more often than PublishFor (e.g. every minute).
//
// Rotation never makes a token unverifiable: a new key first sits in the
// store unused ("pending") for PublishFor, so every instance and every JWKS
// cache has it before any token is signed with it; then it becomes active,
// and the old key keeps verifying until all tokens it signed have expired.
type KeyRing struct {
	Store  KeyStore
	Master []byte // from LoadOrCreateMasterKey
	// Alg of new keys; "" means AlgEdDSA.
	Alg string
	// RotateAfter is the age at which the active key is replaced; zero
	// means DefaultRotateAfter.
	RotateAfter time.Duration
	// PublishFor is how long a new key is published before it signs; zero
	// means DefaultPublishFor.
	PublishFor time.Duration
	// TokenTTL is the Issuer's TTL; zero means DefaultTTL.
	TokenTTL time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	current atomic.Pointer[KeySet]
}

// Keys returns the current key set, nil before the first successful
// Refresh. Pass it as Issuer.Keys and Verifier.Keys.
func (r *KeyRing) Keys() *KeySet { return r.current.Load() }

// Refresh reads the store, creates or activates keys as the rotation
// schedule says, and installs a new KeySet. On error the previous set stays.
func (r *KeyRing) Refresh(ctx context.Context) error {
	stored, err := r.Store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("auth: load signing keys: %w", err)
	}
	changed, err := r.rotate(ctx, stored)
	if err != nil {
		return err
	}
	if changed {
		if stored, err = r.Store.SigningKeys(ctx); err != nil {
			return fmt.Errorf("auth: load signing keys: %w", err)
		}
	}
	set, err := r.open(stored)
	if err != nil {
		return err
	}
	r.current.Store(set)
	return nil
}

// ClassifyKeys finds the active key and the pending one: the newest key
// neither active nor retired. Either may be nil.
func ClassifyKeys(stored []StoredKey) (active, pending *StoredKey) {
	for i := range stored {
		k := &stored[i]
		switch {
		case k.Active:
			active = k
		case k.NotAfter.IsZero() && (pending == nil || k.CreatedAt.After(pending.CreatedAt)):
			pending = k
		}
	}
	return active, pending
}

// Rotation is what Rotate did.
type Rotation struct {
	Key       StoredKey // the new (or already pending) key
	Added     bool      // false: a key was already pending and is used
	Activated bool
	SignsFrom time.Time // when not activated: the servers activate it then
	RetireAt  time.Time // when activated: the previous key verifies until then
}

// Rotate starts a rotation now instead of at RotateAfter (an operator's
// `tenantd keys rotate`): it adds a pending key, unless one is pending
// already, which every instance publishes at its next Refresh and activates
// after PublishFor. With activateNow the key is activated at once instead,
// retiring the previous key after the token TTL and PublishFor; tokens it
// signs are then rejected by instances and JWKS caches that have not
// refreshed yet. Rotate refuses to run with a master key that does not
// open the active key: a key sealed under another master key would break
// every server.
func (r *KeyRing) Rotate(ctx context.Context, activateNow bool) (Rotation, error) {
	stored, err := r.Store.SigningKeys(ctx)
	if err != nil {
		return Rotation{}, fmt.Errorf("auth: load signing keys: %w", err)
	}
	active, pending := ClassifyKeys(stored)
	if active != nil {
		if _, err := OpenPrivateKey(r.Master, active.ID, active.Alg, active.SealedPrivate); err != nil {
			return Rotation{}, fmt.Errorf("auth: this master key does not open the active signing key %s, so it is not the servers' master key: %w", active.ID, err)
		}
	}
	now := r.now()
	var out Rotation
	if pending != nil {
		out.Key = *pending
	} else {
		k, err := r.add(ctx, now)
		if err != nil {
			return Rotation{}, err
		}
		if stored, err = r.Store.SigningKeys(ctx); err != nil {
			return Rotation{}, fmt.Errorf("auth: load signing keys: %w", err)
		}
		for _, s := range stored {
			if s.ID == k.ID {
				out.Key = s
			}
		}
		out.Added = true
	}
	publishFor := cmp.Or(r.PublishFor, DefaultPublishFor)
	if !activateNow {
		out.SignsFrom = out.Key.CreatedAt.Add(publishFor)
		return out, nil
	}
	out.RetireAt = now.Add(cmp.Or(r.TokenTTL, DefaultTTL) + publishFor)
	if err := r.activate(ctx, out.Key.ID, out.RetireAt); err != nil {
		return Rotation{}, err
	}
	out.Activated = true
	return out, nil
}

// rotate applies the schedule once and reports whether the store changed.
func (r *KeyRing) rotate(ctx context.Context, stored []StoredKey) (bool, error) {
	now := r.now()
	active, pending := ClassifyKeys(stored)
	publishFor := cmp.Or(r.PublishFor, DefaultPublishFor)
	retireAt := now.Add(cmp.Or(r.TokenTTL, DefaultTTL) + publishFor)
	changed := false
	switch {
	case active == nil && pending == nil:
		// First start: nobody can hold a token yet, so no need to wait.
		k, err := r.add(ctx, now)
		if err != nil {
			return false, err
		}
		return true, r.activate(ctx, k.ID, retireAt)
	case active == nil:
		return true, r.activate(ctx, pending.ID, retireAt)
	case pending != nil && !now.Before(pending.CreatedAt.Add(publishFor)):
		if err := r.activate(ctx, pending.ID, retireAt); err != nil {
			return false, err
		}
		changed = true
	case pending == nil && !now.Before(active.CreatedAt.Add(cmp.Or(r.RotateAfter, DefaultRotateAfter))):
		if _, err := r.add(ctx, now); err != nil {
			return false, err
		}
		changed = true
	}
	for _, k := range stored {
		if !k.NotAfter.IsZero() && k.NotAfter.Before(now) {
			if err := r.Store.DeleteSigningKeys(ctx, now); err != nil {
				return false, fmt.Errorf("auth: delete retired keys: %w", err)
			}
			return true, nil
		}
	}
	return changed, nil
}

func (r *KeyRing) add(ctx context.Context, now time.Time) (Key, error) {
	k, err := GenerateKey(r.Alg, now)
	if err != nil {
		return Key{}, err
	}
	pub, err := MarshalPublicKey(k)
	if err != nil {
		return Key{}, err
	}
	sealed, err := SealPrivateKey(r.Master, k)
	if err != nil {
		return Key{}, err
	}
	err = r.Store.AddSigningKey(ctx, StoredKey{ID: k.ID, Alg: k.Alg, Public: pub, SealedPrivate: sealed, CreatedAt: now})
	if err != nil {
		return Key{}, fmt.Errorf("auth: store new signing key: %w", err)
	}
	return k, nil
}

func (r *KeyRing) activate(ctx context.Context, kid string, retireAt time.Time) error {
	if err := r.Store.ActivateSigningKey(ctx, kid, retireAt); err != nil {
		return fmt.Errorf("auth: activate signing key %s: %w", kid, err)
	}
	return nil
}

// open turns stored keys into a KeySet, newest first. Only the active key's
// private part is decrypted: the others never sign.
func (r *KeyRing) open(stored []StoredKey) (*KeySet, error) {
	keys := make([]Key, 0, len(stored))
	for _, s := range stored {
		pub, err := ParsePublicKey(s.Alg, s.Public)
		if err != nil {
			return nil, fmt.Errorf("auth: signing key %s: %w", s.ID, err)
		}
		k := Key{ID: s.ID, Alg: s.Alg, Public: pub, CreatedAt: s.CreatedAt, NotAfter: s.NotAfter, Active: s.Active}
		if s.Active {
			if k.Private, err = OpenPrivateKey(r.Master, s.ID, s.Alg, s.SealedPrivate); err != nil {
				return nil, err
			}
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b Key) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return NewKeySet(keys)
}

func (r *KeyRing) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
