package checkpoint_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/checkpoint"
)

// editLastLine rewrites the last line of the log with edit.
func editLastLine(t *testing.T, path string, edit func(map[string]any)) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
	var m map[string]any
	if err := json.Unmarshal(lines[len(lines)-1], &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	lines[len(lines)-1], _ = json.Marshal(m)
	if err := os.WriteFile(path, append(bytes.Join(lines, []byte("\n")), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A checkpoint log that was edited, forged or cut is never trusted: every
// way of changing it that could move a checkpoint fails verification,
// naming the line.
func TestForgedCheckpointsAreCaught(t *testing.T) {
	t.Parallel()
	otherKey := newKey(t)
	cases := []struct {
		name   string
		forge  func(t *testing.T, f *fixture, tenant uuid.UUID)
		reread bool // a fresh store (another process) reads the forged log
		want   string
	}{
		{"edited seq", func(t *testing.T, f *fixture, tenant uuid.UUID) {
			editLastLine(t, f.store.Path(), func(m map[string]any) { m["seq"] = m["seq"].(float64) - 2 })
		}, true, "signature does not verify"},
		{"edited hash", func(t *testing.T, f *fixture, tenant uuid.UUID) {
			editLastLine(t, f.store.Path(), func(m map[string]any) { m["hash"] = strings.Repeat("ab", 32) })
		}, true, "signature does not verify"},
		{"bad signature", func(t *testing.T, f *fixture, tenant uuid.UUID) {
			editLastLine(t, f.store.Path(), func(m map[string]any) { m["sig"] = strings.Repeat("A", 86) + "==" })
		}, true, "signature does not verify"},
		{"signed with another key", func(t *testing.T, f *fixture, tenant uuid.UUID) {
			// A line appended by someone with another master key: a lower
			// head for the tenant, well formed and validly signed.
			forged := checkpoint.NewFileStore(f.store.Path(), otherKey)
			cp := otherKey.Sign(tenantd.Checkpoint{TenantID: tenant, Kind: tenantd.CheckpointHead,
				ChainPoint: tenantd.ChainPoint{Seq: 99, Hash: bytes.Repeat([]byte{1}, 32)}, At: time.Now()})
			if err := forged.Append(context.Background(), []tenantd.Checkpoint{cp}); err != nil {
				t.Fatal(err)
			}
		}, false, "not by this master key's"},
		{"not a checkpoint", func(t *testing.T, f *fixture, tenant uuid.UUID) {
			fh, _ := os.OpenFile(f.store.Path(), os.O_APPEND|os.O_WRONLY, 0)
			fh.WriteString(`{"tenant_id":"` + tenant.String() + `","kind":"head","seq":1}` + "\n")
			fh.Close()
		}, false, "line 3"},
		{"truncated", func(t *testing.T, f *fixture, tenant uuid.UUID) {
			raw, _ := os.ReadFile(f.store.Path())
			os.WriteFile(f.store.Path(), raw[:bytes.IndexByte(raw, '\n')+1], 0o600)
		}, false, "shrank"},
		{"deleted", func(t *testing.T, f *fixture, tenant uuid.UUID) {
			os.Remove(f.store.Path())
		}, false, "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tenant := f.newTenant(t, 2)
			f.checkpoint(t)
			f.write(t, tenant, 2)
			f.checkpoint(t) // two lines now
			if r := f.verify(t, tenant); !r.OK {
				t.Fatalf("before forging: %+v", r)
			}
			tc.forge(t, f, tenant)
			if tc.reread {
				f.auditor.Store = checkpoint.NewFileStore(f.store.Path(), f.key)
			}
			_, err := f.auditor.Verify(context.Background(), "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("verify with a forged log: %v, want an error with %q", err, tc.want)
			}
			if _, err := f.auditor.Checkpoint(context.Background()); err == nil {
				t.Fatal("the checkpointer appended to a forged log")
			}
		})
	}
}

// Two processes share one log: what one appends, the other reads.
func TestFileStoreSharedByTwoProcesses(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	path := filepath.Join(t.TempDir(), "log.jsonl")
	one, two := checkpoint.NewFileStore(path, key), checkpoint.NewFileStore(path, key)
	ctx := context.Background()
	tenant := uuid.New()
	hash := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	if got, err := one.Latest(ctx); err != nil || len(got) != 0 {
		t.Fatalf("a missing log: %v, %v", got, err)
	}
	for i, s := range []*checkpoint.FileStore{one, two, one} {
		cp := key.Sign(tenantd.Checkpoint{TenantID: tenant, Kind: tenantd.CheckpointHead,
			ChainPoint: tenantd.ChainPoint{Seq: int64(10 * (i + 1)), Hash: hash(byte(i))}, At: time.Now()})
		if err := s.Append(ctx, []tenantd.Checkpoint{cp}); err != nil {
			t.Fatal(err)
		}
		for _, r := range []*checkpoint.FileStore{one, two} {
			got, err := r.Latest(ctx)
			if err != nil || len(got) != 1 || got[0].Seq != int64(10*(i+1)) {
				t.Fatalf("after append %d: %+v, %v", i, got, err)
			}
		}
	}
	// The same event signed twice with different hashes: a fork.
	fork := key.Sign(tenantd.Checkpoint{TenantID: tenant, Kind: tenantd.CheckpointHead,
		ChainPoint: tenantd.ChainPoint{Seq: 30, Hash: hash(9)}, At: time.Now()})
	if err := two.Append(ctx, []tenantd.Checkpoint{fork}); err != nil {
		t.Fatal(err)
	}
	if _, err := one.Latest(ctx); err == nil || !strings.Contains(err.Error(), "different hashes") {
		t.Fatalf("a forked checkpoint: %v", err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v, want 0600", st.Mode().Perm())
	}
}
