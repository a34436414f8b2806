package auth

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	now := time.Now()
	seen := map[string]bool{}
	for _, alg := range []string{"", AlgEdDSA, AlgES256} {
		k := mustKey(t, alg, now)
		if alg == "" && k.Alg != AlgEdDSA {
			t.Fatalf("default algorithm is %s, want EdDSA", k.Alg)
		}
		id, err := base64.RawURLEncoding.DecodeString(k.ID)
		if err != nil || len(id) != 16 {
			t.Fatalf("kid %q is not base64url of 16 bytes", k.ID)
		}
		if seen[k.ID] {
			t.Fatalf("kid %s generated twice", k.ID)
		}
		seen[k.ID] = true
		if k.Active || !k.CreatedAt.Equal(now) || !k.NotAfter.IsZero() {
			t.Fatalf("new key %+v: want inactive, created now, no NotAfter", k)
		}
	}
	if _, err := GenerateKey("HS256", now); !errors.Is(err, ErrConfig) {
		t.Fatalf("GenerateKey(HS256) = %v, want ErrConfig", err)
	}
}

func TestNewKeySetRefusesInconsistentKeys(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ed, ed2, es := mustKey(t, AlgEdDSA, now), mustKey(t, AlgEdDSA, now), mustKey(t, AlgES256, now)
	active := func(k Key) Key { k.Active = true; return k }
	verifyOnly := func(k Key) Key { k.Private = nil; return k }
	for name, keys := range map[string][]Key{
		"two active keys":         {active(ed), active(ed2)},
		"active without private":  {active(verifyOnly(ed))},
		"duplicate kid":           {ed, func() Key { k := ed2; k.ID = ed.ID; return k }()},
		"empty kid":               {func() Key { k := ed; k.ID = ""; return k }()},
		"alg does not match key":  {func() Key { k := es; k.Alg = AlgEdDSA; return k }()},
		"unsupported alg":         {func() Key { k := ed; k.Alg = "HS256"; return k }()},
		"private of another key":  {func() Key { k := ed; k.Private = ed2.Private; return k }()},
		"private of another kind": {func() Key { k := es; k.Private = ed.Private; return k }()},
		"no public part":          {func() Key { k := ed; k.Public = nil; return k }()},
	} {
		if _, err := NewKeySet(keys); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: NewKeySet = %v, want ErrConfig", name, err)
		}
	}
	s, err := NewKeySet([]Key{verifyOnly(ed), es, active(ed2)})
	if err != nil {
		t.Fatal(err)
	}
	if s.ActiveKID() != ed2.ID {
		t.Fatalf("ActiveKID = %s, want %s", s.ActiveKID(), ed2.ID)
	}
}

func TestSealRoundTrip(t *testing.T) {
	t.Parallel()
	master := randomMaster()
	for _, alg := range []string{AlgEdDSA, AlgES256} {
		k := mustKey(t, alg, time.Now())
		sealed, err := SealPrivateKey(master, k)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := OpenPrivateKey(master, k.ID, alg, sealed)
		if err != nil {
			t.Fatal(err)
		}
		// The opened key signs tokens that the original public key verifies.
		k2 := k
		k2.Private, k2.Active = signer, true
		e := newEnv(t)
		token := sign(t, k2, e.header(k2), e.claims())
		if !verifyIndependently(token, alg, k.Public) {
			t.Fatalf("%s: opened key does not sign for the original public key", alg)
		}
		if bytes.Contains(sealed, []byte("PRIVATE")) {
			t.Fatal("sealed key looks like plain text")
		}

		tests := map[string]func() (any, error){
			"wrong master key": func() (any, error) { return OpenPrivateKey(randomMaster(), k.ID, alg, sealed) },
			"changed kid":      func() (any, error) { return OpenPrivateKey(master, newKID(), alg, sealed) },
			"flipped bit":      func() (any, error) { return OpenPrivateKey(master, k.ID, alg, flip(sealed, len(sealed)/2)) },
			"truncated":        func() (any, error) { return OpenPrivateKey(master, k.ID, alg, sealed[:10]) },
			"short master key": func() (any, error) { return OpenPrivateKey(master[:16], k.ID, alg, sealed) },
			"other algorithm": func() (any, error) {
				return OpenPrivateKey(master, k.ID, map[string]string{AlgEdDSA: AlgES256, AlgES256: AlgEdDSA}[alg], sealed)
			},
		}
		for name, open := range tests {
			if got, err := open(); err == nil {
				t.Errorf("%s %s: opened %T, want an error", alg, name, got)
			}
		}
	}
	verifyOnly := mustKey(t, AlgEdDSA, time.Now())
	verifyOnly.Private = nil
	if _, err := SealPrivateKey(master, verifyOnly); err == nil {
		t.Error("sealed a key without private part")
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

func randomMaster() []byte {
	m := make([]byte, MasterKeySize)
	rand.Read(m)
	return m
}

func TestPublicKeyDERRoundTrip(t *testing.T) {
	t.Parallel()
	ed, es := mustKey(t, AlgEdDSA, time.Now()), mustKey(t, AlgES256, time.Now())
	for _, k := range []Key{ed, es} {
		der, err := MarshalPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := ParsePublicKey(k.Alg, der)
		if err != nil {
			t.Fatal(err)
		}
		if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public) {
			t.Fatalf("%s public key changed in the round trip", k.Alg)
		}
	}
	edDER, _ := MarshalPublicKey(ed)
	if _, err := ParsePublicKey(AlgES256, edDER); err == nil {
		t.Fatal("an Ed25519 key parsed as an ES256 key")
	}
}

// The master key tests change the environment: not parallel.

func TestMasterKeyFromEnvironment(t *testing.T) {
	want := randomMaster()
	t.Setenv(MasterKeyEnv, base64.StdEncoding.EncodeToString(want))
	path := filepath.Join(t.TempDir(), "master.key")
	got, err := LoadOrCreateMasterKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the environment variable did not win")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a file was created although the key came from the environment")
	}
	t.Setenv(MasterKeyEnv, base64.StdEncoding.EncodeToString(want[:16]))
	if _, err := LoadOrCreateMasterKey(path); err == nil {
		t.Fatal("accepted a 16-byte master key")
	}
}

func TestMasterKeyFile(t *testing.T) {
	t.Setenv(MasterKeyEnv, "")
	path := filepath.Join(t.TempDir(), "secrets", "master.key")
	first, err := LoadOrCreateMasterKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != MasterKeySize {
		t.Fatalf("created a %d-byte key", len(first))
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("master key file mode %04o, want 0600", st.Mode().Perm())
	}
	again, err := LoadOrCreateMasterKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, again) {
		t.Fatal("second load returned another key: sealed keys would be lost on restart")
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateMasterKey(path); err == nil {
		t.Fatal("accepted a world-readable master key file")
	}

	raw := filepath.Join(t.TempDir(), "raw.key")
	want := randomMaster()
	if err := os.WriteFile(raw, want, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadOrCreateMasterKey(raw); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("raw 32-byte file: %v", err)
	}
}
