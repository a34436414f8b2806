package pgcluster

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// RelocatedRoot holds the clusters whose data dir their OS user cannot
// reach (see reachableDir).
const RelocatedRoot = "/var/lib/tenantd/pg"

// reachableDir returns the directory the cluster's files live in, given the
// data dir asked for, when PostgreSQL runs as another OS user (c.osUser).
//
// Where that user can reach dir, the files live there. Where it cannot (a
// clone in root's 0700 home, a 0700 temp dir), the files live in a directory
// of that user's own under RelocatedRoot, and dir becomes a symbolic link to
// it: the permissions of the user's directories stay as they are, and every
// later start, the lock included, follows the link to the same cluster.
func (c *Cluster) reachableDir(dir string) (string, error) {
	if fi, err := os.Lstat(dir); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return "", fmt.Errorf("pgcluster: the data dir %s is a link to a missing cluster directory: %w "+
				"(remove the link to start a new cluster)", dir, err)
		}
		dir = target // a relocated cluster, or an operator's own link
	}
	reachErr := checkTraversable(dir, c.osUser)
	if reachErr == nil {
		return dir, nil
	}
	if _, err := os.Lstat(dir); err == nil {
		// A cluster (or something) is already there: moving it is the
		// operator's call, not ours.
		return "", reachErr
	}
	return c.relocate(dir)
}

// relocate makes a new cluster directory under RelocatedRoot, owned by the
// cluster's user, and links dir to it. Its name starts with a hash of dir,
// which finds the directories earlier data dirs at the same path left
// behind; the random rest keeps a new data dir there from reusing them.
func (c *Cluster) relocate(dir string) (string, error) {
	cred := c.osUser
	if err := makeRootDirs(RelocatedRoot); err != nil {
		return "", err
	}
	if err := checkTraversable(filepath.Join(RelocatedRoot, "x"), cred); err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(dir))
	prefix := hex.EncodeToString(sum[:8]) + "-"
	home, err := os.MkdirTemp(RelocatedRoot, prefix) // 0700
	if err != nil {
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	// Written before the directory changes hands: which data dir it serves.
	if err := os.WriteFile(filepath.Join(home, "datadir"), []byte(dir+"\n"), 0o644); err != nil {
		os.RemoveAll(home)
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	if err := os.Chown(home, int(cred.Uid), int(cred.Gid)); err != nil {
		os.RemoveAll(home)
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	if err := os.Symlink(home, dir); err != nil {
		os.RemoveAll(home)
		if errors.Is(err, os.ErrExist) { // another process linked it first: use its cluster
			return c.reachableDir(dir)
		}
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	if old, _ := filepath.Glob(filepath.Join(RelocatedRoot, prefix+"*")); len(old) > 1 {
		for _, o := range old {
			if o != home {
				c.log.Warn("a cluster directory left by an earlier data dir at the same path; remove it if it is no longer needed",
					"dir", o, "data_dir", dir)
			}
		}
	}
	c.log.Info("the PostgreSQL user cannot reach the data dir, so the cluster lives in a directory of its own, linked from it",
		"data_dir", dir, "cluster_dir", home)
	return home, nil
}

// makeRootDirs creates path and its missing parents, owned by root and
// closed to listing (0711), and refuses a path that another user could
// change: the cluster's user must not be able to swap its directory.
func makeRootDirs(path string) error {
	if err := os.MkdirAll(path, 0o711); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	for p := path; p != filepath.Dir(p); p = filepath.Dir(p) {
		fi, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !fi.IsDir() || ok && (st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 && fi.Mode()&os.ModeSticky == 0) {
			return fmt.Errorf("pgcluster: %s must be a directory owned by root and writable by root only (it is %v)", p, fi.Mode())
		}
	}
	return nil
}
