// Package pgcluster runs a private PostgreSQL cluster from the PostgreSQL
// binaries installed on the machine: the embedded default database of
// tenantd and the throwaway clusters of the tests.
//
// Options.DataDir is dedicated to the cluster and holds (or, when the
// cluster's OS user cannot reach it, is a link to a directory under
// /var/lib/tenantd/pg that holds):
//
//	tenantd.lock        flock held by the owning process while the cluster is in use
//	pgdata/             the PostgreSQL data directory (PGDATA, with PG_VERSION)
//	server.log          the server log, appended to across starts
//	superuser.password  the random password of the "postgres" role, for TCP
//	sock/               the unix socket directory (or a short /tmp dir, see Options.Port)
//	datadir             (in a linked directory) the data dir that links to it
//
// Authentication: trust on the unix socket, whose directory only the
// cluster's OS user (and root) may enter, and scram-sha-256 on 127.0.0.1,
// where any local user could otherwise connect as superuser.
package pgcluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configure Start.
type Options struct {
	// DataDir is where the cluster lives; created if missing and reused if it
	// already holds (or links to) a cluster.
	DataDir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one. The cluster also
	// listens on a unix socket in DataDir/sock, or in a short /tmp directory
	// when that socket path would exceed 100 bytes (the kernel limit is 107).
	Port int
	// Logger receives lifecycle messages; nil discards them.
	Logger *slog.Logger
	// Settings are extra postgresql.conf settings, e.g. fsync=off for tests.
	Settings map[string]string
}

// ErrLocked is returned (wrapped, with the data dir) by Start when another
// process or another Cluster in this process is using the data dir.
var ErrLocked = errors.New("pgcluster: data directory is in use")

// Cluster is a running (or killed) private PostgreSQL cluster.
type Cluster struct {
	log      *slog.Logger
	bin      string // directory of initdb, pg_ctl and postgres
	name     string // Options.DataDir, absolute: how errors name the cluster
	dir      string // where its files live: name, or where a link at name leads (see reachableDir)
	pgdata   string
	logFile  string
	settings map[string]string
	osUser   *syscall.Credential // nil: PostgreSQL runs as this process's user

	mu       sync.Mutex
	lock     *os.File // nil once Stop released the data dir
	port     int
	pickPort bool // true until the first successful start; the port is then kept
	sockDir  string
	tmpSock  bool // sockDir is a /tmp dir of ours, removed by Stop
	running  bool
}

// Start starts the cluster in o.DataDir, creating it with initdb on first use.
// When this process runs as root, PostgreSQL runs as the postgres OS user (see
// runAsUser); if that user cannot reach o.DataDir, the cluster lives in a
// directory of its own that o.DataDir links to (see reachableDir). Errors
// from a failed start include the tail of the server log.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.DataDir == "" {
		return nil, errors.New("pgcluster: Options.DataDir is empty")
	}
	dir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	bin, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		log:      o.Logger,
		bin:      bin,
		name:     dir,
		dir:      dir,
		settings: o.Settings,
		port:     o.Port,
		pickPort: o.Port == 0,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.osUser, err = runAsUser(c.log); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	if c.osUser != nil {
		if c.dir, err = c.reachableDir(dir); err != nil {
			return nil, err
		}
	}
	c.pgdata, c.logFile = filepath.Join(c.dir, "pgdata"), filepath.Join(c.dir, "server.log")
	if err := os.Mkdir(c.dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	if err := c.chown(c.dir); err != nil {
		return nil, err
	}
	if c.lock, err = lockDir(c.dir, c.name); err != nil {
		return nil, err
	}
	if err := c.startLocked(ctx); err != nil {
		c.release()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) startLocked(ctx context.Context) error {
	if err := c.initdb(ctx); err != nil {
		return err
	}
	c.stopOrphan(ctx)
	if err := c.prepareSocketDir(); err != nil {
		return err
	}
	return c.start(ctx)
}

// initdb creates the cluster unless pgdata already holds one.
func (c *Cluster) initdb(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(c.pgdata, "PG_VERSION")); err == nil {
		return nil
	}
	pwFile := filepath.Join(c.dir, "superuser.password")
	if err := c.writeFile(pwFile, rand.Text()+"\n", 0o600); err != nil {
		return err
	}
	args := []string{"-D", c.pgdata, "-U", "postgres", "-E", "UTF8", "--locale=C",
		"--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile=" + pwFile}
	if c.settings["fsync"] == "off" {
		args = append(args, "--no-sync") // nobody wants durability from this cluster
	}
	c.log.Info("creating PostgreSQL cluster", "pgdata", c.pgdata)
	if err := c.run(ctx, "initdb", args...); err != nil {
		return fmt.Errorf("pgcluster: initdb: %w", err)
	}
	// Our settings go in a file rewritten at every start, so that
	// postgresql.conf stays initdb's and no shell quoting of -o is needed.
	f, err := os.OpenFile(filepath.Join(c.pgdata, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	_, err = f.WriteString("\ninclude 'tenantd.conf'\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// stopOrphan stops a server still running on our data dir. It can only have
// been left by an owner that died without stopping it (pg_ctl detaches the
// server from our process group, so it outlives us), since we hold the lock.
func (c *Cluster) stopOrphan(ctx context.Context) {
	if _, err := os.Stat(filepath.Join(c.pgdata, "postmaster.pid")); err != nil {
		return
	}
	if c.pgctl(ctx, "status") != nil {
		return // stale pid file after a crash: postgres replaces it itself
	}
	c.log.Warn("stopping a PostgreSQL server left running by a previous owner", "pgdata", c.pgdata)
	if err := c.pgctl(ctx, "stop", "-m", "fast"); err != nil {
		c.log.Warn("stopping the orphaned server failed", "err", err)
	}
}

// prepareSocketDir makes the unix socket directory, owned by the cluster's
// OS user and closed to others: trust authentication relies on that.
func (c *Cluster) prepareSocketDir() error {
	if c.sockDir != "" {
		return nil // kept from before a Kill
	}
	dir := filepath.Join(c.dir, "sock")
	if len(dir+"/.s.PGSQL.65535") > 100 {
		tmp, err := os.MkdirTemp("/tmp", "pgsock-")
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		dir, c.tmpSock = tmp, true
	} else if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("pgcluster: %w", err)
	}
	c.sockDir = dir
	return c.chown(dir)
}

// start runs pg_ctl start; with a picked port it retries on another port if
// someone grabbed ours between picking it and the server binding it.
func (c *Cluster) start(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		if c.port == 0 {
			p, err := freePort()
			if err != nil {
				return err
			}
			c.port = p
		}
		if err := c.writeConf(); err != nil {
			return err
		}
		logStart := fileSize(c.logFile)
		err := c.pgctl(ctx, "start", "-l", c.logFile)
		if err == nil {
			c.running, c.pickPort = true, false
			c.log.Info("PostgreSQL started", "pgdata", c.pgdata, "port", c.port, "socket_dir", c.sockDir)
			return nil
		}
		tail := logTail(c.logFile, logStart)
		// Do not leave a half-started server behind (e.g. ctx expired).
		_ = c.pgctl(context.Background(), "stop", "-m", "immediate")
		if c.pickPort && attempt < 3 && strings.Contains(tail, "could not bind") {
			c.port = 0
			continue
		}
		return fmt.Errorf("pgcluster: starting PostgreSQL in %s: %w\n--- tail of %s ---\n%s", c.pgdata, err, c.logFile, tail)
	}
}

func (c *Cluster) writeConf() error {
	var b strings.Builder
	b.WriteString("# Written by pgcluster at every start: edits are lost.\n")
	line := func(k, v string) {
		v = strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), `'`, `''`)
		fmt.Fprintf(&b, "%s = '%s'\n", k, v)
	}
	line("listen_addresses", "127.0.0.1")
	line("port", strconv.Itoa(c.port))
	line("unix_socket_directories", c.sockDir)
	for _, k := range slices.Sorted(maps.Keys(c.settings)) {
		line(k, c.settings[k]) // after ours, so the caller wins
	}
	return c.writeFile(filepath.Join(c.pgdata, "tenantd.conf"), b.String(), 0o600)
}

// SuperuserURL returns a connection string for the database dbname as the
// superuser "postgres", over the unix socket.
func (c *Cluster) SuperuserURL(dbname string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Path:     "/" + dbname,
		RawQuery: url.Values{"host": {c.sockDir}, "port": {strconv.Itoa(c.port)}, "sslmode": {"disable"}}.Encode(),
	}
	return u.String()
}

// Host returns the unix socket directory, usable as a libpq/pgx host. Over
// TCP, use 127.0.0.1 and Port (password authentication).
func (c *Cluster) Host() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sockDir
}

// Port returns the server's port, for TCP and for the unix socket's name.
func (c *Cluster) Port() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.port
}

// Stop shuts the server down cleanly (pg_ctl stop -m fast) and releases the
// data dir. It can be called after Kill, and more than once.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		if err := c.pgctl(ctx, "stop", "-m", "fast"); err != nil {
			return fmt.Errorf("pgcluster: stopping PostgreSQL: %w", err)
		}
		c.running = false
	}
	c.release()
	return nil
}

// Kill stops the server abruptly (pg_ctl stop -m immediate), as a crash
// would: the next start runs crash recovery. The data dir stays locked;
// Restart starts the server again, Stop releases it.
func (c *Cluster) Kill() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return nil
	}
	if err := c.pgctl(context.Background(), "stop", "-m", "immediate"); err != nil {
		return fmt.Errorf("pgcluster: killing PostgreSQL: %w", err)
	}
	c.running = false
	return nil
}

// Restart starts the server again on the same data dir and port, stopping it
// first if it runs. It also works after Kill or Stop.
func (c *Cluster) Restart(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		if err := c.pgctl(ctx, "stop", "-m", "fast"); err != nil {
			return fmt.Errorf("pgcluster: stopping PostgreSQL: %w", err)
		}
		c.running = false
	}
	if c.lock == nil {
		var err error
		if c.lock, err = lockDir(c.dir, c.name); err != nil {
			return err
		}
	}
	return c.startLocked(ctx)
}

// release gives up the data dir once the server is down.
func (c *Cluster) release() {
	if c.tmpSock {
		os.RemoveAll(c.sockDir)
		c.sockDir, c.tmpSock = "", false
	}
	if c.lock != nil {
		c.lock.Close() // closing drops the flock
		c.lock = nil
	}
}

// pgctl runs a pg_ctl subcommand on our data dir, waiting for it to complete.
func (c *Cluster) pgctl(ctx context.Context, sub string, args ...string) error {
	return c.run(ctx, "pg_ctl", append([]string{sub, "-D", c.pgdata, "-w"}, args...)...)
}

// run runs one of the PostgreSQL programs as the cluster's OS user.
func (c *Cluster) run(ctx context.Context, prog string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, prog), args...)
	cmd.Dir = c.dir // the cluster's user may not be allowed into our working dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.WaitDelay = 10 * time.Second
	if c.osUser != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.osUser}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", prog, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (c *Cluster) writeFile(path, data string, mode os.FileMode) error {
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return c.chown(path)
}

// chown gives path to the cluster's OS user when that is not us.
func (c *Cluster) chown(path string) error {
	if c.osUser == nil {
		return nil
	}
	if err := os.Chown(path, int(c.osUser.Uid), int(c.osUser.Gid)); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgcluster: picking a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logTail returns the last lines the server logged after offset.
func logTail(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}
