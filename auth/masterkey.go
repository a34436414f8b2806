package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// MasterKeyEnv names the environment variable holding the base64 master key.
const MasterKeyEnv = "TENANTD_MASTER_KEY"

// LoadOrCreateMasterKey returns the master key that seals private signing
// keys. It is kept outside the database, so a database dump alone does not
// reveal the signing keys. In order:
//
//   - $TENANTD_MASTER_KEY, base64 (standard or URL alphabet) of 32 bytes;
//   - else the file at path: base64 text, or 32 raw bytes. A file that group
//     or others can access is refused;
//   - else a new random key is written to path (mode 0600, directory 0700)
//     as base64, so it can be copied into the environment variable.
//
// Called once at startup by cmd/tenantd. Every instance must use the same key.
func LoadOrCreateMasterKey(path string) ([]byte, error) {
	if v := os.Getenv(MasterKeyEnv); v != "" {
		key, err := decodeMasterKey([]byte(v))
		if err != nil {
			return nil, fmt.Errorf("auth: %s: %w", MasterKeyEnv, err)
		}
		return key, nil
	}
	if key, err := readMasterKeyFile(path); !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := createMasterKeyFile(path); err != nil {
		return nil, err
	}
	return readMasterKeyFile(path)
}

func readMasterKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("auth: master key file %s has mode %04o: make it readable by its owner only (chmod 600)", path, st.Mode().Perm())
	}
	raw, err := io.ReadAll(io.LimitReader(f, 256))
	if err != nil {
		return nil, fmt.Errorf("auth: read master key file %s: %w", path, err)
	}
	key, err := decodeMasterKey(raw)
	if err != nil {
		return nil, fmt.Errorf("auth: master key file %s: %w", path, err)
	}
	return key, nil
}

func decodeMasterKey(raw []byte) ([]byte, error) {
	if len(raw) == MasterKeySize {
		return bytes.Clone(raw), nil // raw bytes; base64 of 32 bytes is 43+ characters
	}
	text := string(bytes.TrimSpace(raw))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(text); err == nil && len(key) == MasterKeySize {
			return key, nil
		}
	}
	return nil, fmt.Errorf("not base64 of %d bytes", MasterKeySize)
}

// createMasterKeyFile writes a new key to a temporary file and links it into
// place, so two instances starting at once end up with the same key (the
// second link fails and that instance reads the first one's file) and a
// reader never sees a half-written file.
func createMasterKeyFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("auth: create master key directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".master-key-*")
	if err != nil {
		return fmt.Errorf("auth: create master key: %w", err)
	}
	defer os.Remove(tmp.Name())
	key := make([]byte, MasterKeySize)
	rand.Read(key)
	_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		err = tmp.Chmod(0o600) // CreateTemp already uses 0600; be explicit
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("auth: write master key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("auth: install master key: %w", err)
	}
	return nil
}
