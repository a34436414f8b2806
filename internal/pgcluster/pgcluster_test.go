package pgcluster

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

var testSettings = map[string]string{"fsync": "off"}

// tempDir is t.TempDir made enterable by the postgres user, which runs the
// cluster when the tests run as root: the testing package makes its parent 0700.
func tempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func start(t *testing.T, dir string) *Cluster {
	t.Helper()
	c, err := Start(t.Context(), Options{DataDir: dir, Settings: testSettings})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	return c
}

func connect(t *testing.T, c *Cluster) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), c.SuperuserURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func exec1(t *testing.T, c *Cluster, sql string) {
	t.Helper()
	if _, err := connect(t, c).Exec(t.Context(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func count(t *testing.T, c *Cluster) int {
	t.Helper()
	var n int
	if err := connect(t, c).QueryRow(t.Context(), "SELECT count(*) FROM kept").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(tempDir(t), "var", "pg") // parents are created too
	ctx := t.Context()

	c := start(t, dir)
	var one int
	if err := connect(t, c).QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	exec1(t, c, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)")

	if _, err := Start(ctx, Options{DataDir: dir}); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Start in the same process: got %v, want ErrLocked naming %s", err, dir)
	}
	if out, err := lockHelper(t, dir); err != nil || !strings.Contains(out, dir) {
		t.Fatalf("Start from another process: got %v: %s, want ErrLocked", err, out)
	}

	// A clean stop and a new Start keep the data.
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	c = start(t, dir)
	if n := count(t, c); n != 1 {
		t.Fatalf("after Stop and Start: %d rows, want 1", n)
	}

	// A commit acknowledged before a crash survives it, on the same port.
	exec1(t, c, "INSERT INTO kept VALUES (2)")
	port := c.Port()
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := pgx.Connect(ctx, c.SuperuserURL("postgres")); err == nil {
		t.Fatal("connected to a killed cluster")
	}
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Port() != port {
		t.Fatalf("Restart moved from port %d to %d", port, c.Port())
	}
	if n := count(t, c); n != 2 {
		t.Fatalf("after Kill and Restart: %d rows, want 2", n)
	}

	// TCP on 127.0.0.1 asks for the superuser's password.
	tcp := "postgres://postgres@127.0.0.1:" + strconv.Itoa(c.Port()) + "/postgres?sslmode=disable"
	if _, err := pgx.Connect(ctx, tcp); err == nil {
		t.Fatal("TCP connection without a password succeeded")
	}
	pw, err := os.ReadFile(filepath.Join(dir, "superuser.password"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, strings.Replace(tcp, "postgres@", "postgres:"+strings.TrimSpace(string(pw))+"@", 1))
	if err != nil {
		t.Fatalf("TCP with the password: %v", err)
	}
	conn.Close(ctx)

	// Restart after Stop takes the data dir back.
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(ctx, Options{DataDir: dir}); !errors.Is(err, ErrLocked) {
		t.Fatalf("Start after Restart: got %v, want ErrLocked", err)
	}
	if n := count(t, c); n != 2 {
		t.Fatalf("after Stop and Restart: %d rows, want 2", n)
	}
}

// lockHelper runs TestLockHelper in a child process against dir.
func lockHelper(t *testing.T, dir string) (string, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "PGCLUSTER_LOCK_HELPER_DIR="+dir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestLockHelper(t *testing.T) {
	dir := os.Getenv("PGCLUSTER_LOCK_HELPER_DIR")
	if dir == "" {
		t.Skip("only run by TestLifecycle in a child process")
	}
	c, err := Start(t.Context(), Options{DataDir: dir})
	if err == nil {
		c.Stop(context.Background())
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("got %v, want ErrLocked", err)
	}
	t.Log(err)
}

// As root, PostgreSQL runs as another user, who cannot enter root's 0700
// directories (a clone in /root, t.TempDir): the cluster then lives in a
// directory of that user's own that the data dir links to, the 0700
// directory keeps its mode, and the link leads later starts and the lock to
// the same cluster.
func TestUnreachableDataDir(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root: only then does the cluster run as another OS user (go test as root to run it)")
	}
	private := t.TempDir()
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(private, "clone", "var", "pg")
	t.Cleanup(func() { removeRelocated(t, dir) }) // runs after start's Stop
	ctx := t.Context()

	c := start(t, dir)
	exec1(t, c, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)")
	home, err := os.Readlink(dir)
	if err != nil {
		t.Fatalf("the data dir is not a link to the cluster's directory: %v", err)
	}
	if filepath.Dir(home) != RelocatedRoot {
		t.Fatalf("cluster directory %s, want one in %s", home, RelocatedRoot)
	}
	fi, err := os.Stat(home)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid == 0 || fi.Mode().Perm() != 0o700 {
		t.Errorf("cluster directory %s: uid %d, mode %v; want the cluster user's, 0700", home, st.Uid, fi.Mode())
	}
	if fi, err := os.Stat(private); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the private directory's mode changed to %v (%v)", fi.Mode(), err)
	}

	if _, err := Start(ctx, Options{DataDir: dir}); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Start: got %v, want ErrLocked naming %s", err, dir)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	c = start(t, dir)
	if n := count(t, c); n != 1 {
		t.Fatalf("after Stop and Start: %d rows, want 1", n)
	}
	if again, _ := os.Readlink(dir); again != home {
		t.Fatalf("the second Start moved the cluster from %s to %s", home, again)
	}
}

// removeRelocated removes the cluster directory a data dir links to.
func removeRelocated(t *testing.T, dir string) {
	home, err := os.Readlink(dir)
	if err != nil {
		return
	}
	if filepath.Dir(home) != RelocatedRoot {
		t.Errorf("not removing %s: not in %s", home, RelocatedRoot)
		return
	}
	if err := os.RemoveAll(home); err != nil {
		t.Error(err)
	}
}

func TestFailedStartAndLongPath(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(tempDir(t), strings.Repeat("long-", 20)) // too long for a socket path
	ctx := t.Context()

	_, err := Start(ctx, Options{DataDir: dir, Settings: map[string]string{"fsync": "off", "max_connections": "many"}})
	if err == nil || !strings.Contains(err.Error(), `invalid value for parameter "max_connections"`) {
		t.Fatalf("got %v, want the server log's complaint", err)
	}

	c := start(t, dir) // the failed Start released the lock
	sock := c.Host()
	if !strings.HasPrefix(sock, "/tmp/") || strings.HasPrefix(sock, dir) {
		t.Fatalf("socket dir %s, want a short /tmp dir", sock)
	}
	exec1(t, c, "SELECT 1")
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket dir %s left behind: %v", sock, err)
	}
}
