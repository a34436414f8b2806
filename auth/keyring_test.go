package auth

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// memStore is a KeyStore in memory with the semantics the interface asks of
// the real one.
type memStore struct {
	mu   sync.Mutex
	keys []StoredKey
}

func (m *memStore) SigningKeys(context.Context) ([]StoredKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]StoredKey(nil), m.keys...), nil
}

func (m *memStore) AddSigningKey(_ context.Context, k StoredKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys = append(m.keys, k)
	return nil
}

func (m *memStore) ActivateSigningKey(_ context.Context, kid string, retireAt time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	found := false
	for i := range m.keys {
		k := &m.keys[i]
		switch {
		case k.ID == kid:
			k.Active, found = true, true
		case k.NotAfter.IsZero():
			k.Active, k.NotAfter = false, retireAt
		}
	}
	if !found {
		return errors.New("no such key")
	}
	return nil
}

func (m *memStore) DeleteSigningKeys(_ context.Context, before time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	kept := m.keys[:0]
	for _, k := range m.keys {
		if k.NotAfter.IsZero() || !k.NotAfter.Before(before) {
			kept = append(kept, k)
		}
	}
	m.keys = kept
	return nil
}

func TestKeyRingRotatesWithoutBreakingTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	clock := func() time.Time { return now }
	store := &memStore{}
	master := randomMaster()
	ring := &KeyRing{Store: store, Master: master, RotateAfter: 24 * time.Hour, PublishFor: 10 * time.Minute, TokenTTL: 15 * time.Minute, Now: clock}
	// A second instance sharing the store, refreshed independently.
	other := &KeyRing{Store: store, Master: master, RotateAfter: 24 * time.Hour, PublishFor: 10 * time.Minute, TokenTTL: 15 * time.Minute, Now: clock}
	issuer := &Issuer{Keys: ring.Keys, Issuer: testIssuer, Audience: testAudience, TTL: 15 * time.Minute, Now: clock}
	otherVerifier := &Verifier{Keys: other.Keys, Issuer: testIssuer, Audience: testAudience, Now: clock}
	refresh := func() {
		t.Helper()
		for _, r := range []*KeyRing{ring, other} {
			if err := r.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}

	// First start: one active key, at once.
	refresh()
	first := ring.Keys().ActiveKID()
	if first == "" || other.Keys().ActiveKID() != first || len(store.keys) != 1 {
		t.Fatalf("after first refresh: active %q / %q, %d stored keys", first, other.Keys().ActiveKID(), len(store.keys))
	}
	if bytes.Contains(store.keys[0].SealedPrivate, store.keys[0].Public) {
		t.Fatal("stored private key is not sealed")
	}

	// Rotation is due: a pending key is published but does not sign yet.
	now = now.Add(25 * time.Hour)
	refresh()
	if ring.Keys().ActiveKID() != first || len(store.keys) != 2 {
		t.Fatalf("a new key signs before it was published: active %s, %d keys", ring.Keys().ActiveKID(), len(store.keys))
	}
	if keys := parseJWKS(t, other.Keys().JWKS()); len(keys) != 2 {
		t.Fatalf("pending key not in the JWKS: %d keys", len(keys))
	}
	oldToken, _, err := issuer.Issue(uuid.New(), uuid.New(), uuid.New())
	if err != nil {
		t.Fatal(err)
	}

	// After PublishFor, the pending key signs; the old one still verifies.
	now = now.Add(10 * time.Minute)
	if err := ring.Refresh(ctx); err != nil { // only this instance, for now
		t.Fatal(err)
	}
	second := ring.Keys().ActiveKID()
	if second == first || second == "" {
		t.Fatalf("no rotation: active %s", second)
	}
	newToken, _, err := issuer.Issue(uuid.New(), uuid.New(), uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	// The other instance has not refreshed since the switch, and still
	// verifies the new key's tokens: it loaded the key while it was pending.
	if _, err := otherVerifier.Verify(newToken); err != nil {
		t.Fatalf("stale instance refused a token of the new key: %v", err)
	}
	verifier := *otherVerifier
	verifier.Keys = ring.Keys
	if _, err := verifier.Verify(oldToken); err != nil {
		t.Fatalf("token of the retired key, not yet expired: %v", err)
	}

	// Once every token of the old key has expired, it is deleted.
	now = now.Add(15*time.Minute + 10*time.Minute + time.Second)
	refresh()
	if len(store.keys) != 1 || store.keys[0].ID != second {
		t.Fatalf("retired key not deleted: %d keys", len(store.keys))
	}
	if keys := parseJWKS(t, ring.Keys().JWKS()); len(keys) != 1 || keys[second] == nil {
		t.Fatalf("JWKS after retirement: %v", keys)
	}
	_, err = verifier.Verify(oldToken)
	requireOnly(t, err, ErrUnknownKey)
}

func TestKeyRingKeepsThePreviousSetOnError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &memStore{}
	ring := &KeyRing{Store: store, Master: randomMaster()}
	if err := ring.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	before := ring.Keys()
	wrongMaster := &KeyRing{Store: store, Master: randomMaster()}
	if err := wrongMaster.Refresh(ctx); err == nil {
		t.Fatal("opened the stored key with another master key")
	}
	if wrongMaster.Keys() != nil {
		t.Fatal("a failed refresh installed a key set")
	}
	ring.Master = randomMaster()
	if err := ring.Refresh(ctx); err == nil || ring.Keys() != before {
		t.Fatalf("failed refresh: err %v, set replaced %v", err, ring.Keys() != before)
	}
}

// Rotate adds one pending key (a second call reuses it), activates it on
// request, and refuses a master key that does not open the active key.
func TestKeyRingRotateOnDemand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, master := &memStore{}, randomMaster()
	ring := &KeyRing{Store: store, Master: master}
	if err := ring.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := (&KeyRing{Store: store, Master: randomMaster()}).Rotate(ctx, false); err == nil {
		t.Fatal("Rotate with another master key succeeded")
	}
	first, err := ring.Rotate(ctx, false)
	if err != nil || !first.Added || first.Activated || first.SignsFrom.IsZero() {
		t.Fatalf("first rotate: %+v, %v", first, err)
	}
	again, err := ring.Rotate(ctx, true)
	if err != nil || again.Added || !again.Activated || again.Key.ID != first.Key.ID {
		t.Fatalf("second rotate: %+v, %v (want the pending key %s activated)", again, err, first.Key.ID)
	}
	stored, _ := store.SigningKeys(ctx)
	active, pending := ClassifyKeys(stored)
	if active == nil || active.ID != first.Key.ID || pending != nil || len(stored) != 2 {
		t.Fatalf("after rotate --now: active %v pending %v of %d keys", active, pending, len(stored))
	}
}
