package pgcluster

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// runAsUser returns the OS user to run PostgreSQL as, or nil to run it as
// ourselves. PostgreSQL refuses to run as root, so as root we use Debian's
// postgres user, or create a system user tenantd-pg where there is none.
func runAsUser(log *slog.Logger) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		if u, err = user.Lookup("tenantd-pg"); err != nil {
			out, addErr := exec.Command("useradd", "--system", "--no-create-home",
				"--shell", "/usr/sbin/nologin", "tenantd-pg").CombinedOutput()
			// Another process may have created it meanwhile: look again either way.
			if u, err = user.Lookup("tenantd-pg"); err != nil {
				return nil, fmt.Errorf("pgcluster: running as root needs an unprivileged user for PostgreSQL; "+
					"there is no postgres user and `useradd tenantd-pg` failed: %v: %s", addErr, out)
			}
		}
	}
	cred := &syscall.Credential{}
	if cred.Uid, err = parseID(u.Uid); err != nil {
		return nil, err
	}
	if cred.Gid, err = parseID(u.Gid); err != nil {
		return nil, err
	}
	gids, _ := u.GroupIds()
	for _, g := range gids {
		if id, err := parseID(g); err == nil {
			cred.Groups = append(cred.Groups, id)
		}
	}
	log.Info("running the PostgreSQL cluster as user "+u.Username+" because PostgreSQL refuses to run as root",
		"user", u.Username, "uid", cred.Uid)
	return cred, nil
}

func parseID(s string) (uint32, error) {
	id, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("pgcluster: bad user or group id %q", s)
	}
	return uint32(id), nil
}

// checkTraversable fails early, naming the culprit, when the cluster's user
// cannot reach dir through its existing ancestors (a 0700 temp dir, /root):
// PostgreSQL would otherwise fail later with a bare "Permission denied".
func checkTraversable(dir string, cred *syscall.Credential) error {
	var ancestors []string
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		ancestors = append(ancestors, p)
		if p == filepath.Dir(p) {
			break
		}
	}
	for _, p := range slices.Backward(ancestors) { // from / down, to name the outermost culprit
		fi, err := os.Stat(p)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		if !canSearch(fi, cred) {
			return fmt.Errorf("pgcluster: PostgreSQL runs as uid %d (it refuses root), which cannot enter %s (mode %v) "+
				"on the way to the data dir %s: chmod o+x %s or choose another data dir", cred.Uid, p, fi.Mode(), dir, p)
		}
	}
	return nil
}

// canSearch applies the Unix rule: the owner bits if the user owns the dir,
// else the group bits if it is in the group, else the other bits.
func canSearch(fi fs.FileInfo, cred *syscall.Credential) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	mode := fi.Mode().Perm()
	switch {
	case st.Uid == cred.Uid:
		return mode&0o100 != 0
	case st.Gid == cred.Gid || slices.Contains(cred.Groups, st.Gid):
		return mode&0o010 != 0
	}
	return mode&0o001 != 0
}
