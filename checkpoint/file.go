package checkpoint

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// FileStore keeps checkpoints in an append-only JSONL file, one signed
// checkpoint per line:
//
//	{"tenant_id":"…","kind":"head","seq":42,"hash":"<hex>","at":"2026-…Z","key":"<key id>","sig":"<base64>"}
//
// Appends take an exclusive lock on the file (readers a shared one), so
// several processes on one host may share it. It reads each line once:
// later calls to Latest read only what was appended since, and a file that
// shrank is an error. Every line's signature is checked as it is read.
type FileStore struct {
	path string
	key  *Key

	mu     sync.Mutex
	offset int64 // bytes read so far
	lines  int   // lines read so far
	latest map[latestKey]tenantd.Checkpoint
}

type latestKey struct {
	tenant uuid.UUID
	kind   string
}

// fileLine is one line of the file.
type fileLine struct {
	TenantID uuid.UUID `json:"tenant_id"`
	Kind     string    `json:"kind"`
	Seq      int64     `json:"seq"`
	Hash     string    `json:"hash"`
	At       time.Time `json:"at"`
	Key      string    `json:"key"`
	Sig      string    `json:"sig"`
}

// NewFileStore returns the store in the file at path (created by the first
// Append, mode 0600), checking signatures with key.
func NewFileStore(path string, key *Key) *FileStore {
	return &FileStore{path: path, key: key, latest: map[latestKey]tenantd.Checkpoint{}}
}

// Path is the file's path.
func (s *FileStore) Path() string { return s.path }

// Append writes cps at the end of the file in one write, and syncs it.
func (s *FileStore) Append(ctx context.Context, cps []tenantd.Checkpoint) error {
	if len(cps) == 0 {
		return nil
	}
	var buf bytes.Buffer
	for _, cp := range cps {
		if err := s.key.Verify(cp); err != nil {
			return fmt.Errorf("checkpoint: refusing to append a checkpoint of tenant %s: %w", cp.TenantID, err)
		}
		line, err := json.Marshal(fileLine{TenantID: cp.TenantID, Kind: cp.Kind, Seq: cp.Seq,
			Hash: hex.EncodeToString(cp.Hash), At: cp.At.UTC(), Key: cp.KeyID,
			Sig: base64.StdEncoding.EncodeToString(cp.Sig)})
		if err != nil {
			return err
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	if err := lockFile(f, true); err != nil {
		return fmt.Errorf("checkpoint: lock %s: %w", s.path, err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("checkpoint: append to %s: %w", s.path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("checkpoint: sync %s: %w", s.path, err)
	}
	return nil
}

// Latest returns the furthest checkpoint of every tenant and kind. A
// missing file holds none. A line that is not a checkpoint signed by the
// key, two checkpoints of one tenant's event that disagree, or a file that
// shrank since it was last read are errors.
func (s *FileStore) Latest(ctx context.Context) ([]tenantd.Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.readNew(); err != nil {
		return nil, err
	}
	out := make([]tenantd.Checkpoint, 0, len(s.latest))
	for _, cp := range s.latest {
		out = append(out, cp)
	}
	slices.SortFunc(out, func(a, b tenantd.Checkpoint) int {
		return cmp.Or(bytes.Compare(a.TenantID[:], b.TenantID[:]), cmp.Compare(a.Kind, b.Kind))
	})
	return out, nil
}

// readNew reads the lines appended since the last call.
func (s *FileStore) readNew() error {
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) && s.offset == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	if err := lockFile(f, false); err != nil {
		return fmt.Errorf("checkpoint: lock %s: %w", s.path, err)
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if st.Size() < s.offset {
		return fmt.Errorf("checkpoint: %s shrank from %d to %d bytes since it was read: truncated or replaced", s.path, s.offset, st.Size())
	}
	if _, err := f.Seek(s.offset, io.SeekStart); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	r := bufio.NewReader(f)
	for {
		raw, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(raw) > 0 {
				return fmt.Errorf("checkpoint: %s line %d is cut short (no newline): a torn or edited write", s.path, s.lines+1)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("checkpoint: read %s: %w", s.path, err)
		}
		cp, err := s.parse(raw)
		if err != nil {
			return fmt.Errorf("checkpoint: %s line %d: %w", s.path, s.lines+1, err)
		}
		k := latestKey{cp.TenantID, cp.Kind}
		cur, seen := s.latest[k]
		switch {
		case !seen || cp.Seq > cur.Seq:
			s.latest[k] = cp
		case cp.Seq == cur.Seq && !bytes.Equal(cp.Hash, cur.Hash):
			return fmt.Errorf("checkpoint: %s line %d: tenant %s's event %d has two signed %s checkpoints with different hashes: the chain was rewritten between them",
				s.path, s.lines+1, cp.TenantID, cp.Seq, cp.Kind)
		}
		s.offset += int64(len(raw))
		s.lines++
	}
}

// parse decodes one line strictly and checks its signature.
func (s *FileStore) parse(raw []byte) (tenantd.Checkpoint, error) {
	var l fileLine
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return tenantd.Checkpoint{}, fmt.Errorf("not a checkpoint: %w", err)
	}
	if dec.More() {
		return tenantd.Checkpoint{}, errors.New("not a checkpoint: more than one value")
	}
	hash, err := hex.DecodeString(l.Hash)
	if err != nil {
		return tenantd.Checkpoint{}, errors.New("not a checkpoint: hash is not hex")
	}
	sig, err := base64.StdEncoding.DecodeString(l.Sig)
	if err != nil {
		return tenantd.Checkpoint{}, errors.New("not a checkpoint: sig is not base64")
	}
	cp := tenantd.Checkpoint{TenantID: l.TenantID, Kind: l.Kind, ChainPoint: tenantd.ChainPoint{Seq: l.Seq, Hash: hash},
		At: l.At, KeyID: l.Key, Sig: sig}
	if err := s.key.Verify(cp); err != nil {
		return tenantd.Checkpoint{}, err
	}
	return cp, nil
}
