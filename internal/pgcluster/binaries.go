package pgcluster

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
)

// FindBinaries returns the directory holding initdb, pg_ctl and postgres:
// the one of initdb on PATH, else the newest /usr/lib/postgresql/*/bin
// (Debian keeps the server programs off PATH).
func FindBinaries() (dir string, err error) {
	var candidates []string
	if p, err := exec.LookPath("initdb"); err == nil {
		// Resolve symlinks: pg_ctl finds postgres next to its real self.
		if p, err = filepath.EvalSymlinks(p); err == nil {
			candidates = append(candidates, filepath.Dir(p))
		}
	}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(versions, func(a, b string) int { // newest first, 9.6 < 10
		return compareVersion(b, a)
	})
	for _, d := range append(candidates, versions...) {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "pg_ctl")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New("pgcluster: PostgreSQL server programs (initdb, pg_ctl, postgres) not found on PATH " +
		"nor in /usr/lib/postgresql/*/bin; install them with `apt-get install -y postgresql`")
}

func compareVersion(a, b string) int {
	va, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(a)), 64)
	vb, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(b)), 64)
	switch {
	case va < vb:
		return -1
	case va > vb:
		return 1
	}
	return 0
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
