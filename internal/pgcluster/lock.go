package pgcluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// lockDir takes an exclusive flock on dir/tenantd.lock (name is the data dir
// to name in errors). flock locks belong to
// the open file, so a second Start in the same process is refused as surely
// as one in another process, and the kernel drops the lock if we die.
func lockDir(dir, name string) (*os.File, error) {
	path := filepath.Join(dir, "tenantd.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) // close-on-exec: postgres must not inherit it
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	if err := flockSoon(f); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder, _ := os.ReadFile(path)
			return nil, fmt.Errorf("%w: %s is used by process %s (lock file %s)",
				ErrLocked, name, strings.TrimSpace(string(holder)), path)
		}
		return nil, fmt.Errorf("pgcluster: locking %s: %w", path, err)
	}
	// The pid is only informative, for the error message above.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// flockSoon takes the lock, waiting up to half a second for it. A lock we
// released a moment ago can still be held through a copy of its file
// descriptor in a child that another goroutine has forked but not yet
// exec'd (close-on-exec applies only at exec): on a loaded machine that
// window is long enough to refuse our own next Start.
func flockSoon(f *os.File) error {
	deadline := time.Now().Add(500 * time.Millisecond)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
