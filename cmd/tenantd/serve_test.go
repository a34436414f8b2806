package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd/internal/pgcluster"
	"github.com/tenantd/tenantd/internal/pgtest"
	"github.com/tenantd/tenantd/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func envOf(m map[string]string) getenv { return func(k string) string { return m[k] } }

// dataDir is a fresh TENANTD_DATA that the postgres user, which runs the
// cluster when the tests run as root, can reach: the testing package makes
// t.TempDir's parent 0700.
func dataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "var")
}

// runCmd runs one tenantd command to completion.
func runCmd(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var out, errOut syncBuffer
	code = run(ctx, args, envOf(env), &out, &errOut)
	return code, out.String(), errOut.String()
}

// server is a `tenantd serve` running in this process.
type server struct {
	url    string
	stop   func() int // SIGTERM, in effect; returns the exit code
	stdout *syncBuffer
	stderr *syncBuffer
}

func startServe(t *testing.T, env map[string]string, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"serve"}, args...), envOf(env), s.stdout, s.stderr) }()
	var once sync.Once
	code := -1
	s.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(time.Minute):
				t.Errorf("serve did not stop within a minute\n%s", s.stderr)
			}
		})
		return code
	}
	t.Cleanup(func() { s.stop() })
	deadline := time.Now().Add(2 * time.Minute)
	for s.url == "" {
		select {
		case code := <-done:
			done <- code // for the cleanup's stop, which would otherwise wait for it
			t.Fatalf("serve exited with %d before listening\nstderr:\n%s", code, s.stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not listening after 2 minutes\nstderr:\n%s", s.stderr)
		}
		for _, line := range strings.Split(s.stderr.String(), "\n") {
			var l struct{ Msg, URL string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "listening" {
				s.url = l.URL
			}
		}
	}
	return s
}

// logField is the field key of the first JSON log line whose message is msg.
func logField(log, msg, key string) string {
	for _, line := range strings.Split(log, "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) == nil && l["msg"] == msg {
			v, _ := l[key].(string)
			return v
		}
	}
	return ""
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func postStatus(t *testing.T, url, body string) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func tenantSlugs(t *testing.T, env map[string]string) []string {
	t.Helper()
	code, out, errOut := runCmd(t, env, "tenant", "list", "--json")
	if code != 0 {
		t.Fatalf("tenant list: exit %d\n%s", code, errOut)
	}
	var tenants []struct{ Slug string }
	if err := json.Unmarshal([]byte(out), &tenants); err != nil {
		t.Fatalf("tenant list --json: %v\n%s", err, out)
	}
	var slugs []string
	for _, tn := range tenants {
		slugs = append(slugs, tn.Slug)
	}
	slices.Sort(slugs)
	return slugs
}

// TestServeEmbedded: serve on the embedded cluster answers, lets operator
// commands in through its socket, refuses a second instance, shuts down
// cleanly (the cluster too), and restarts on the same data without
// duplicating the demo tenants.
func TestServeEmbedded(t *testing.T) {
	data := dataDir(t)
	env := map[string]string{"TENANTD_DATA": data, "TENANTD_ADDR": "127.0.0.1:0"}
	pidFile := filepath.Join(data, "pg", "pgdata", "postmaster.pid")

	s := startServe(t, withEnv(env, "TENANTD_SECURE_COOKIES", "1"), "--demo")
	for _, path := range []string{"/healthz", "/readyz"} {
		if got := getStatus(t, s.url+path); got != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, got)
		}
	}
	if got := getStatus(t, s.url+"/metrics"); got != http.StatusUnauthorized {
		t.Errorf("GET /metrics without a token = %d, want 401", got)
	}
	if got := getStatus(t, s.url+"/debug/pprof/"); got != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ on the API = %d, want 404", got)
	}
	// TENANTD_SECURE_COOKIES: Secure even on loopback.
	console := consoleLogin(t, s.url)
	for _, c := range console {
		if !c.Secure {
			t.Errorf("with TENANTD_SECURE_COOKIES=1, cookie %s is not Secure", c.Name)
		}
	}
	if out := s.stdout.String(); !strings.Contains(out, s.url) || !strings.Contains(out, "owner@acme.example") ||
		!strings.Contains(out, "/v1/auth/login") {
		t.Errorf("demo banner lacks the URL, a login or the curl example:\n%s", out)
	}
	if got, want := tenantSlugs(t, env), []string{"acme", "globex"}; !slices.Equal(got, want) {
		t.Errorf("tenants %v, want %v", got, want)
	}
	if code, out, errOut := runCmd(t, env, "verify-isolation"); code != 0 || !strings.Contains(out, "OK: no findings") {
		t.Errorf("verify-isolation: exit %d\n%s%s", code, out, errOut)
	}
	// serve signs both chains' heads as soon as it starts.
	checkpoints := filepath.Join(data, "audit-checkpoints.jsonl")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if raw, _ := os.ReadFile(checkpoints); bytes.Count(raw, []byte("\n")) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoints in %s a minute after serve started\n%s", checkpoints, s.stderr)
		}
	}
	if code, out, errOut := runCmd(t, env, "audit", "verify"); code != 0 || strings.Count(out, "signed checkpoint at") != 2 {
		t.Errorf("audit verify against serve's checkpoints: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCmd(t, env, "tenant", "create", "--slug", "Not A Slug", "--name", "X",
		"--owner-email", "a@x.example", "--owner-password", "a long enough password"); code == 0 || !strings.Contains(errOut, "slug") {
		t.Errorf("tenant create with a bad slug: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, env, "serve"); code != 1 || !strings.Contains(errOut, "another tenantd is using "+filepath.Join(data, "pg")) {
		t.Errorf("second serve: exit %d, stderr:\n%s", code, errOut)
	}

	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited with %d after shutdown\n%s", code, s.stderr)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("PostgreSQL still running after serve stopped (%s: %v)", pidFile, err)
	}
	port := readPort(filepath.Join(data, "pg", portFile))
	if port == 0 {
		t.Errorf("no port recorded in %s", filepath.Join(data, "pg", portFile))
	}

	// Again, on the same data.
	s = startServe(t, env, "--demo")
	if got := getStatus(t, s.url+"/readyz"); got != http.StatusOK {
		t.Errorf("after restart: GET /readyz = %d, want 200", got)
	}
	// The CSRF key comes from the master key: another process (a restart,
	// another instance) accepts the console session's token.
	req, _ := http.NewRequest("POST", s.url+"/v1/auth/logout", nil)
	for _, c := range console {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	req.Header.Set("X-CSRF-Token", console["tenantd_csrf"].Value)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusNoContent {
		t.Errorf("after restart, a console write with its CSRF token: %v %v", res.StatusCode, err)
	}
	if got, want := tenantSlugs(t, env), []string{"acme", "globex"}; !slices.Equal(got, want) {
		t.Errorf("after restart: tenants %v, want %v", got, want)
	}
	if got := readPort(filepath.Join(data, "pg", portFile)); got != port {
		t.Errorf("after restart: cluster on port %d, want the previous %d", got, port)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited with %d after shutdown\n%s", code, s.stderr)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("PostgreSQL still running after the second serve stopped (%s: %v)", pidFile, err)
	}

	// Operator commands start (and stop) the cluster themselves.
	if got, want := tenantSlugs(t, env), []string{"acme", "globex"}; !slices.Equal(got, want) {
		t.Errorf("without serve: tenants %v, want %v", got, want)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("tenant list left PostgreSQL running (%s: %v)", pidFile, err)
	}
}

// TestServeRefusesSuperuser: a DATABASE_URL whose role bypasses RLS is refused.
//
// Not parallel with TestExternalDatabase: migrations of two databases of one
// cluster at once collide on creating the cluster-wide roles.
func TestServeRefusesSuperuser(t *testing.T) {
	super := pgtest.Cluster(t).SuperuserURL(pgtest.NewDatabase(t, ""))
	if err := postgres.Migrate(t.Context(), super, nil); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": super, "TENANTD_DATA": t.TempDir(), "TENANTD_ADDR": "127.0.0.1:0"}
	code, _, errOut := runCmd(t, env, "serve")
	if code != 1 || !strings.Contains(errOut, "superuser") {
		t.Fatalf("serve as a superuser: exit %d, want 1 and a complaint about the superuser; stderr:\n%s", code, errOut)
	}
	if strings.Contains(errOut, `"msg":"listening"`) {
		t.Fatal("serve listened before refusing")
	}
}

// TestExternalDatabase: migrate, provision and serve with DATABASE_URL and
// MIGRATE_DATABASE_URL; key rotation through the CLI.
func TestExternalDatabase(t *testing.T) {
	ctx := t.Context()
	super := pgtest.Cluster(t).SuperuserURL(pgtest.NewDatabase(t, ""))
	env := map[string]string{"MIGRATE_DATABASE_URL": super, "TENANTD_DATA": t.TempDir(), "TENANTD_ADDR": "127.0.0.1:0"}
	if code, out, errOut := runCmd(t, env, "migrate"); code != 0 || !strings.Contains(out, "migrated") {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errOut)
	}
	if err := postgres.EnsureLoginRole(ctx, super, "cmd_test_app", ""); err != nil {
		t.Fatal(err)
	}
	env["DATABASE_URL"] = postgres.WithUser(super, "cmd_test_app")

	code, out, errOut := runCmd(t, env, "tenant", "create", "--slug", "initech", "--name", "Initech", "--plan", "pro",
		"--owner-email", "Boss@Initech.example", "--owner-password", "a long enough password", "--json")
	if code != 0 {
		t.Fatalf("tenant create: exit %d\n%s", code, errOut)
	}
	var created struct {
		TenantID    string `json:"tenant_id"`
		Slug        string `json:"slug"`
		OwnerUserID string `json:"owner_user_id"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Slug != "initech" ||
		created.TenantID == "" || created.OwnerUserID == "" {
		t.Fatalf("tenant create --json printed %q (%v)", out, err)
	}
	if code, _, errOut := runCmd(t, env, "tenant", "create", "--slug", "initech", "--name", "Initech",
		"--owner-email", "boss@initech.example", "--owner-password", "a long enough password"); code == 0 || !strings.Contains(errOut, "already exists") {
		t.Errorf("duplicate slug: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, env, "tenant", "create", "--slug", "weak", "--name", "Weak",
		"--owner-email", "boss@weak.example", "--owner-password", "short"); code == 0 || !strings.Contains(errOut, "password") {
		t.Errorf("weak password: exit %d, stderr %q", code, errOut)
	}
	if got := tenantSlugs(t, env); !slices.Equal(got, []string{"initech"}) {
		t.Errorf("tenants %v, want [initech]", got)
	}
	if code, out, errOut := runCmd(t, env, "verify-isolation"); code != 0 || !strings.Contains(out, "OK: no findings") {
		t.Errorf("verify-isolation: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runCmd(t, env, "audit", "verify", "--tenant", "initech"); code != 0 || !strings.Contains(out, "0 broken") {
		t.Errorf("audit verify: exit %d\n%s%s", code, out, errOut)
	}
	// Tampering with the log as a superuser makes audit verify fail.
	conn, err := pgx.Connect(ctx, super)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if code, out, errOut := runCmd(t, env, "audit", "seal"); code != 0 || !strings.Contains(out, "sealed ") {
		t.Fatalf("audit seal: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := conn.Exec(ctx, `UPDATE audit_events SET action = 'tenant.renamed' WHERE seq = 1`); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runCmd(t, env, "audit", "verify"); code != 1 || !strings.Contains(out, "seq 1") {
		t.Errorf("audit verify after tampering: exit %d\n%s", code, out)
	}

	// Without the master key the servers use, keys rotate refuses to act.
	if code, _, errOut := runCmd(t, env, "keys", "rotate"); code == 0 || !strings.Contains(errOut, "master key") {
		t.Errorf("keys rotate without a master key: exit %d, stderr %q", code, errOut)
	}

	env["TENANTD_METRICS_ADDR"] = "127.0.0.1:0"
	s := startServe(t, env) // migrates again (nothing to do), creates the first key
	delete(env, "TENANTD_METRICS_ADDR")
	if got := getStatus(t, s.url+"/readyz"); got != http.StatusOK {
		t.Errorf("GET /readyz = %d, want 200", got)
	}
	if got := getStatus(t, s.url+"/metrics"); got != http.StatusNotFound {
		t.Errorf("GET /metrics on the API with TENANTD_METRICS_ADDR set = %d, want 404", got)
	}
	if addr := logField(s.stderr.String(), "metrics listening", "addr"); addr == "" {
		t.Errorf("no metrics address logged:\n%s", s.stderr)
	} else if got := getStatus(t, "http://"+addr+"/metrics"); got != http.StatusOK {
		t.Errorf("GET /metrics on TENANTD_METRICS_ADDR = %d, want 200", got)
	} else if got := getStatus(t, "http://"+addr+"/debug/pprof/"); got != http.StatusOK {
		t.Errorf("GET /debug/pprof/ on TENANTD_METRICS_ADDR = %d, want 200", got)
	}
	if got := getStatus(t, s.url+"/debug/pprof/"); got != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ on the API = %d, want 404", got)
	}
	// Without REDIS_URL, login is still throttled, per instance, and the log
	// and the metrics say so.
	if logField(s.stderr.String(), "REDIS_URL is not set: rate limits and login throttling are per instance, in memory", "level") != "WARN" {
		t.Errorf("no warning that throttling is per instance:\n%s", s.stderr)
	}
	// The first six wrong passwords are checked (five free failures, and
	// the sixth sets the first lock); from then on each failure locks the
	// pair for twice as long (1 s, 2 s, 4 s, …), counted from when the
	// attempt was let in, before its password is hashed. On a loaded
	// machine one attempt can take longer than the first locks last, so
	// the test asks for a 429 before a lock outlasts any request (the
	// 14th attempt meets a 256 s lock), not at exactly the 7th.
	refusedAt := 0
	for n := 1; n <= 14 && refusedAt == 0; n++ {
		switch got := postStatus(t, s.url+"/v1/auth/login", `{"tenant":"initech","email":"boss@initech.example","password":"not the password"}`); {
		case got == http.StatusTooManyRequests:
			refusedAt = n
		case got != http.StatusUnauthorized:
			t.Fatalf("wrong password #%d without Redis: %d, want 401 or 429", n, got)
		}
	}
	if refusedAt <= 6 {
		t.Errorf("without Redis, wrong passwords were refused from attempt %d, want from the 7th on (0: never)", refusedAt)
	}
	if addr := logField(s.stderr.String(), "metrics listening", "addr"); addr != "" {
		metrics := getBody(t, "http://"+addr+"/metrics")
		if !strings.Contains(metrics, "tenantd_ratelimit_shared 0") || strings.Contains(metrics, "tenantd_ratelimit_local_decisions_total 0\n") ||
			!strings.Contains(metrics, "tenantd_ratelimit_local_decisions_total") {
			t.Errorf("metrics do not show per-instance throttling:\n%s", metrics)
		}
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited with %d\n%s", code, s.stderr)
	}

	keyStates := func() []string {
		code, out, errOut := runCmd(t, env, "keys", "list", "--json")
		if code != 0 {
			t.Fatalf("keys list: exit %d\n%s", code, errOut)
		}
		var keys []struct{ State string }
		if err := json.Unmarshal([]byte(out), &keys); err != nil {
			t.Fatalf("keys list --json: %v\n%s", err, out)
		}
		var states []string
		for _, k := range keys {
			states = append(states, k.State)
		}
		return states
	}
	if got := keyStates(); !slices.Equal(got, []string{"active"}) {
		t.Fatalf("keys after the first serve: %v, want [active]", got)
	}
	if code, out, errOut := runCmd(t, env, "keys", "rotate"); code != 0 || !strings.Contains(out, "pending") {
		t.Fatalf("keys rotate: exit %d\n%s%s", code, out, errOut)
	}
	if got := keyStates(); !slices.Equal(got, []string{"pending", "active"}) {
		t.Fatalf("keys after rotate: %v, want [pending active]", got)
	}
	if code, out, errOut := runCmd(t, env, "keys", "rotate", "--now"); code != 0 || !strings.Contains(out, "already pending") {
		t.Fatalf("keys rotate --now: exit %d\n%s%s", code, out, errOut)
	}
	if got := keyStates(); !slices.Equal(got, []string{"active", "retired"}) {
		t.Fatalf("keys after rotate --now: %v, want [active retired]", got)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	if code, out, _ := runCmd(t, nil, "help"); code != 0 || !strings.Contains(out, "verify-isolation") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
	if code, _, errOut := runCmd(t, nil, "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: exit %d\n%s", code, errOut)
	}
	if code, _, _ := runCmd(t, nil, "tenant"); code != 2 {
		t.Errorf("tenant without a subcommand: exit %d, want 2", code)
	}
	env := map[string]string{"MIGRATE_DATABASE_URL": "postgres://x@127.0.0.1:1/x"}
	if code, _, errOut := runCmd(t, env, "serve"); code != 1 || !strings.Contains(errOut, "DATABASE_URL is not") {
		t.Errorf("serve with only MIGRATE_DATABASE_URL: exit %d\n%s", code, errOut)
	}
	env = map[string]string{"TENANTD_SECURITY_CHECK_INTERVAL": "hourly"}
	if code, _, errOut := runCmd(t, env, "serve"); code != 1 || !strings.Contains(errOut, "TENANTD_SECURITY_CHECK_INTERVAL") {
		t.Errorf("serve with a bad security check interval: exit %d\n%s", code, errOut)
	}
	env = map[string]string{"TENANTD_TRUSTED_PROXIES": "10.0.0.0/8, nonsense"}
	if code, _, errOut := runCmd(t, env, "serve"); code != 1 || !strings.Contains(errOut, "nonsense") {
		t.Errorf("serve with a bad proxy list: exit %d\n%s", code, errOut)
	}
	env = map[string]string{"TENANTD_SECURE_COOKIES": "sure"}
	if code, _, errOut := runCmd(t, env, "serve"); code != 1 || !strings.Contains(errOut, "TENANTD_SECURE_COOKIES") {
		t.Errorf("serve with a TENANTD_SECURE_COOKIES it cannot read: exit %d\n%s", code, errOut)
	}
	for _, share := range []string{"0", "1.5", "75%", "-0.5", "half"} {
		env = map[string]string{"TENANTD_TENANT_SHARE": share}
		if code, _, errOut := runCmd(t, env, "serve"); code != 1 || !strings.Contains(errOut, "TENANTD_TENANT_SHARE") {
			t.Errorf("serve with TENANTD_TENANT_SHARE=%s: exit %d\n%s", share, code, errOut)
		}
	}
}

// TestServeFromPrivateDir: as root, `make run` from a clone in a 0700
// directory (root's home) works without changing that directory: the
// cluster lives where its OS user can reach it, linked from the data dir,
// and a restart, the lock and the master key behave as in place.
func TestServeFromPrivateDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: only then does the embedded cluster run as another OS user (go test as root to run it)")
	}
	private := t.TempDir()
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(private, "tenantd-clone", "var")
	pg := filepath.Join(data, "pg")
	t.Cleanup(func() { // after the servers' own cleanups stopped the cluster
		if home, err := os.Readlink(pg); err == nil && filepath.Dir(home) == pgcluster.RelocatedRoot {
			os.RemoveAll(home)
		}
	})
	env := map[string]string{"TENANTD_DATA": data, "TENANTD_ADDR": "127.0.0.1:0"}

	s := startServe(t, env, "--demo")
	if got := getStatus(t, s.url+"/readyz"); got != http.StatusOK {
		t.Errorf("GET /readyz = %d, want 200", got)
	}
	login := func(url string) int {
		t.Helper()
		body := `{"tenant":"acme","email":"owner@acme.example","password":"demo-password-123"}`
		resp, err := http.Post(url+"/v1/auth/login", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := login(s.url); got != http.StatusOK {
		t.Errorf("demo login: %d, want 200", got)
	}
	if fi, err := os.Stat(private); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the private directory's mode changed to %v (%v)", fi.Mode(), err)
	}
	if home, err := os.Readlink(pg); err != nil || filepath.Dir(home) != pgcluster.RelocatedRoot {
		t.Errorf("%s links to %q (%v), want a directory in %s", pg, home, err, pgcluster.RelocatedRoot)
	}
	if _, err := os.Stat(filepath.Join(data, "master.key")); err != nil {
		t.Errorf("the master key is not in the data dir: %v", err)
	}
	if code, _, errOut := runCmd(t, env, "serve"); code != 1 || !strings.Contains(errOut, "another tenantd is using "+pg) {
		t.Errorf("second serve: exit %d, stderr:\n%s", code, errOut)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited with %d after shutdown\n%s", code, s.stderr)
	}

	// Again, on the same data: the demo tenants, their passwords and the
	// signing keys sealed under the master key are reused.
	s = startServe(t, env, "--demo")
	if got := login(s.url); got != http.StatusOK {
		t.Errorf("after restart: demo login %d, want 200", got)
	}
	if got, want := tenantSlugs(t, env), []string{"acme", "globex"}; !slices.Equal(got, want) {
		t.Errorf("after restart: tenants %v, want %v", got, want)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited with %d after shutdown\n%s", code, s.stderr)
	}
}

func withEnv(env map[string]string, kv ...string) map[string]string {
	out := maps.Clone(env)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// consoleLogin logs in to the demo tenant acme with the console cookies.
func consoleLogin(t *testing.T, url string) map[string]*http.Cookie {
	t.Helper()
	body := `{"tenant":"acme","email":"owner@acme.example","password":"demo-password-123","session_cookie":true}`
	res, err := http.Post(url+"/v1/auth/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	out := map[string]*http.Cookie{}
	for _, c := range res.Cookies() {
		out[c.Name] = c
	}
	if res.StatusCode != http.StatusOK || out["tenantd_session"] == nil || out["tenantd_csrf"] == nil {
		t.Fatalf("console login: %d, cookies %v", res.StatusCode, res.Header.Values("Set-Cookie"))
	}
	return out
}

// TestServeRunsSecurityChecks: serve verifies isolation and the audit
// chains at start; a chain tampered with beforehand shows as failed in
// /readyz (which stays ready), in the metrics, in the error log and in the
// platform's security view.
func TestServeRunsSecurityChecks(t *testing.T) {
	ctx := t.Context()
	super := pgtest.Cluster(t).SuperuserURL(pgtest.NewDatabase(t, ""))
	env := map[string]string{"MIGRATE_DATABASE_URL": super, "TENANTD_DATA": t.TempDir(), "TENANTD_ADDR": "127.0.0.1:0",
		"TENANTD_METRICS_ADDR": "127.0.0.1:0"}
	if code, out, errOut := runCmd(t, env, "migrate"); code != 0 {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errOut)
	}
	if err := postgres.EnsureLoginRole(ctx, super, "cmd_test_app", ""); err != nil {
		t.Fatal(err)
	}
	env["DATABASE_URL"] = postgres.WithUser(super, "cmd_test_app")
	if code, _, errOut := runCmd(t, env, "tenant", "create", "--slug", "initech", "--name", "Initech",
		"--owner-email", "boss@initech.example", "--owner-password", "a long enough password"); code != 0 {
		t.Fatalf("tenant create: exit %d\n%s", code, errOut)
	}
	conn, err := pgx.Connect(ctx, super)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if code, out, errOut := runCmd(t, env, "audit", "seal"); code != 0 || !strings.Contains(out, "sealed ") {
		t.Fatalf("audit seal: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := conn.Exec(ctx, `UPDATE audit_events SET action = 'tenant.renamed' WHERE seq = 1`); err != nil {
		t.Fatal(err)
	}

	s := startServe(t, env)
	type readiness struct {
		Status         string
		SecurityChecks map[string]struct{ Status string } `json:"security_checks"`
	}
	var r readiness
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(s.url + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /readyz: %d %v", resp.StatusCode, err)
		}
		if r.SecurityChecks["audit_chains"].Status != "pending" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the security checks did not run at start within a minute\n%s", s.stderr)
		}
	}
	if r.Status != "ready" || r.SecurityChecks["audit_chains"].Status != "failed" || r.SecurityChecks["isolation"].Status != "ok" {
		t.Errorf("/readyz after start: %+v, want ready, audit_chains failed, isolation ok", r)
	}

	resp, err := http.Get("http://" + logField(s.stderr.String(), "metrics listening", "addr") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`tenantd_security_check_ok{check="audit_chains"} 0`, `tenantd_security_check_ok{check="isolation"} 1`,
		`tenantd_security_check_failures_total{check="audit_chains"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if !strings.Contains(s.stderr.String(), `"level":"ERROR","msg":"security check failed","check":"audit_chains"`) {
		t.Errorf("no error log line for the failed audit-chain check:\n%s", s.stderr)
	}

	code, tok, errOut := runCmd(t, env, "operator", "token")
	if code != 0 {
		t.Fatalf("operator token: exit %d\n%s", code, errOut)
	}
	req, _ := http.NewRequest("GET", s.url+"/v1/admin/security-events", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	view, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(view), `"action":"security_check.audit_chains"`) ||
		!strings.Contains(string(view), "initech") {
		t.Errorf("security view: %d, want the failed audit-chain check naming initech:\n%s", resp.StatusCode, view)
	}
}
