package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
	api "github.com/tenantd/tenantd/http"
	"github.com/tenantd/tenantd/internal/pgcluster"
	"github.com/tenantd/tenantd/postgres"
	"github.com/tenantd/tenantd/ratelimit"
)

// The outside measurement: the authenticated point read as a user sees it,
// from another process (wrk against the API), beside what the database
// alone can do with the same SQL (pgbench: the plain select, and the
// transaction the door sends), at the same concurrency, in one run. The
// three use one tenant's owner and one workspace, so the figures differ
// only in what stands between the client and the row.

// pointReadSQL is the SQL of GET /v1/workspaces/{id} (postgres.Workspaces.Get).
const pointReadSQL = `SELECT id, name, description, created_at, updated_at FROM workspaces WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL`

// outside holds the outside measurement's figures.
type outside struct {
	PlainTPS        float64  `json:"pgbench_plain_select_tps"`
	DoorTPS         float64  `json:"pgbench_door_transaction_tps"`
	APIRPS          float64  `json:"wrk_api_req_per_sec"`
	DoorStatements  int      `json:"door_statements_per_transaction"`
	DoorScript      string   `json:"door_script"`
	Commands        []string `json:"commands"`
	Skipped         []string `json:"skipped,omitempty"`
	ProfilePath     string   `json:"cpu_profile,omitempty"`
	ProfileTop      string   `json:"cpu_profile_top,omitempty"`
	DoorVsPlain     float64  `json:"door_vs_plain"`
	APIVsPlain      float64  `json:"api_vs_plain"`
	APIVsDoor       float64  `json:"api_vs_door"`
	ConcurrentConns int      `json:"concurrency"`
	LimitedRPS      float64  `json:"wrk_limiter_redis_req_per_sec,omitempty"`
	UnlimitedRPS    float64  `json:"wrk_limiter_local_req_per_sec,omitempty"`
	LimitedVsNot    float64  `json:"limiter_redis_vs_local,omitempty"`
}

// measureOutside runs pgbench twice and wrk once; a tool that is missing is
// skipped with a message (scripts/deps.sh bench installs both).
func (b *bench) measureOutside(ctx context.Context, dir string) (*outside, error) {
	u := b.users[0]
	ws := u.workspaces[0]
	o := &outside{ConcurrentConns: b.cfg.conc}
	read := postgres.Statement{SQL: pointReadSQL, Args: []any{u.tenant, ws}}

	// The door's transaction for a signed-in owner, exactly as Run sends
	// it, from a session and principal of its own.
	session, err := b.app.Identity().CreateSession(ctx, u.tenant, u.id, []byte("bench"), time.Now().Add(time.Hour), tenantd.RequestInfo{ID: "bench"})
	if err != nil {
		return nil, err
	}
	st, err := b.app.Identity().LoadPrincipal(ctx, u.tenant, u.id, session, tenantd.RequestInfo{ID: "bench"})
	if err != nil {
		return nil, err
	}
	scope := tenantd.ScopeFor(st.Principal, tenantd.RequestInfo{ID: "0123456789abcdef", IP: "127.0.0.1", UserAgent: "wrk"})
	door, err := postgres.PipelineOf(scope, read)
	if err != nil {
		return nil, err
	}
	o.DoorStatements = len(door)
	var script strings.Builder
	script.WriteString("\\startpipeline\n")
	for _, q := range door {
		script.WriteString(literalSQL(q.SQL, q.Args) + ";\n")
	}
	script.WriteString("\\endpipeline\n")
	o.DoorScript = script.String()
	plain := literalSQL(pointReadSQL, read.Args) + ";\n"

	pgbench, err := findPgbench()
	if err != nil {
		o.Skipped = append(o.Skipped, "pgbench: "+err.Error())
	} else {
		run := func(name, role, body string) (float64, error) {
			path := filepath.Join(dir, name+".sql")
			if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
				return 0, err
			}
			args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(b.cfg.conc), "-j", strconv.Itoa(min(b.cfg.conc, runtime.NumCPU())),
				"-T", strconv.Itoa(max(1, int(b.cfg.duration.Seconds()))), "-f", path,
				postgres.WithUser(b.adminURL, role)}
			if cmd := "pgbench " + strings.Join(args[:len(args)-1], " ") + " (as " + role + ")"; !slices.Contains(o.Commands, cmd) {
				o.Commands = append(o.Commands, cmd)
			}
			out, err := exec.CommandContext(ctx, pgbench, args...).CombinedOutput()
			if err != nil {
				return 0, fmt.Errorf("pgbench %s: %v: %s", name, err, out)
			}
			return parseFloat(`tps = ([0-9.]+)`, out)
		}
		// Plain, door, door, plain: the machine's load drifts (other work
		// shares the two cores), and this order cancels a steady drift out
		// of the ratio. Each figure is the mean of its two runs.
		for _, name := range []string{"plain-select", "door-transaction", "door-transaction", "plain-select"} {
			role, body, sum := "tenantd_bench_bypass", plain, &o.PlainTPS
			if name == "door-transaction" {
				role, body, sum = "tenantd_bench_app", o.DoorScript, &o.DoorTPS
			}
			tps, err := run(name, role, body)
			if err != nil {
				return nil, err
			}
			*sum += tps / 2
		}
	}

	wrk, err := exec.LookPath("wrk")
	if err != nil {
		o.Skipped = append(o.Skipped, "wrk: not installed (scripts/deps.sh bench installs it; on Debian: apt-get install -y wrk)")
	} else {
		drive := func(base, token string, ws uuid.UUID) (float64, error) {
			args := []string{"-t", strconv.Itoa(min(b.cfg.conc, runtime.NumCPU())), "-c", strconv.Itoa(b.cfg.conc),
				"-d", strconv.Itoa(max(1, int(b.cfg.duration.Seconds()))) + "s", "-H", "Authorization: Bearer " + token,
				base + "/v1/workspaces/" + ws.String()}
			if cmd := "wrk " + strings.Join(args[:6], " ") + " -H 'Authorization: Bearer …' http://…/v1/workspaces/{id}"; !slices.Contains(o.Commands, cmd) {
				o.Commands = append(o.Commands, cmd)
			}
			out, err := exec.CommandContext(ctx, wrk, args...).CombinedOutput()
			if err != nil {
				return 0, fmt.Errorf("wrk: %v: %s", err, out)
			}
			if bytes.Contains(out, []byte("Non-2xx")) {
				return 0, fmt.Errorf("wrk: some answers were not 2xx: %s", out)
			}
			return parseFloat(`Requests/sec:\s+([0-9.]+)`, out)
		}
		// The server runs in this process: profile it while wrk drives it
		// (the bench's own clients are idle meanwhile).
		o.ProfilePath = filepath.Join(b.cfg.profileDir, "tenantd-bench-wrk.cpu.pprof")
		f, err := os.Create(o.ProfilePath)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		o.APIRPS, err = drive(b.rlsURL, u.token, ws)
		pprof.StopCPUProfile()
		f.Close()
		if err != nil {
			return nil, err
		}
		o.ProfileTop = profileTop(o.ProfilePath)
		if err := b.measureLimiter(ctx, o, drive); err != nil {
			return nil, err
		}
	}
	o.DoorVsPlain, o.APIVsPlain, o.APIVsDoor = div(o.DoorTPS, o.PlainTPS), div(o.APIRPS, o.PlainTPS), div(o.APIRPS, o.DoorTPS)
	return o, nil
}

// measureLimiter drives the same read through the server, whose rate
// limiter shares each tenant's bucket through Redis as in production (the
// tenant's limit high enough never to refuse), and through a copy of it
// whose limiter decides in process memory (a map lookup under a lock, no
// round trip: the cost of limiting without Redis, next to nothing). Every
// tenant has a rate limit, so this is the limiter's own cost on the hot
// path. Redis, local, local, Redis; each figure the mean of its two runs.
func (b *bench) measureLimiter(ctx context.Context, o *outside, drive func(base, token string, ws uuid.UUID) (float64, error)) error {
	deps := b.rlsDeps
	deps.Limiter, deps.Throttle = ratelimit.NewLocal(), ratelimit.NewLocalLoginThrottle()
	srv := api.NewServer(deps, api.Config{})
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &nethttp.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	local := "http://" + ln.Addr().String()
	u := b.users[0]
	for _, shared := range []bool{true, false, false, true} {
		base, sum := b.rlsURL, &o.LimitedRPS
		if !shared {
			base, sum = local, &o.UnlimitedRPS
		}
		rps, err := drive(base, u.token, u.workspaces[0])
		if err != nil {
			return err
		}
		*sum += rps / 2
	}
	o.LimitedVsNot = div(o.LimitedRPS, o.UnlimitedRPS)
	return nil
}

// literalSQL writes args into sql as literals, for pgbench scripts: every
// value here is a UUID, a number or server-made text.
func literalSQL(sql string, args []any) string {
	for i := len(args); i >= 1; i-- { // $10 before $1
		var lit string
		switch v := args[i-1].(type) {
		case nil:
			lit = "NULL"
		case uuid.UUID:
			lit = "'" + v.String() + "'"
		case int, int32, int64, bool:
			lit = fmt.Sprint(v)
		case string:
			lit = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		default:
			lit = "'" + strings.ReplaceAll(fmt.Sprint(v), "'", "''") + "'"
		}
		sql = strings.ReplaceAll(sql, "$"+strconv.Itoa(i), lit)
	}
	return strings.Join(strings.Fields(sql), " ")
}

// findPgbench finds pgbench on PATH or beside the PostgreSQL server.
func findPgbench() (string, error) {
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, nil
	}
	if dir, err := pgcluster.FindBinaries(); err == nil {
		if p := filepath.Join(dir, "pgbench"); isFile(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("not found (it comes with the PostgreSQL server package)")
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func parseFloat(pattern string, out []byte) (float64, error) {
	m := regexp.MustCompile(pattern).FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no %q in: %s", pattern, out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// profileTop is the top of the CPU profile by cumulative time, as `go tool
// pprof -top -cum` prints it; empty without a Go toolchain.
func profileTop(path string) string {
	out, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount", "40", path).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

func (o *outside) markdown() string {
	var b strings.Builder
	b.WriteString("\n### Outside measurement: GET /v1/workspaces/{id}, one tenant, one workspace\n\n")
	for _, c := range o.Commands {
		fmt.Fprintf(&b, "    %s\n", c)
	}
	for _, s := range o.Skipped {
		fmt.Fprintf(&b, "\nSkipped: %s\n", s)
	}
	fmt.Fprintf(&b, "\nEach pgbench figure is the mean of two runs, in the order plain, door, door, plain.\n")
	fmt.Fprintf(&b, "\n| what | throughput |\n|---|---:|\n")
	fmt.Fprintf(&b, "| pgbench, the plain point select | %.0f tps |\n", o.PlainTPS)
	fmt.Fprintf(&b, "| pgbench, the door's transaction (%d statements, pipelined) | %.0f tps |\n", o.DoorStatements, o.DoorTPS)
	fmt.Fprintf(&b, "| wrk, tenantd full stack | %.0f req/s |\n", o.APIRPS)
	fmt.Fprintf(&b, "\n| ratio | value | target |\n|---|---:|---|\n")
	fmt.Fprintf(&b, "| door's transaction / plain select | %.2f | ≥ 0.6 %s |\n", o.DoorVsPlain, mark(o.DoorVsPlain >= 0.6))
	fmt.Fprintf(&b, "| full stack / plain select | %.3f | ≥ 0.24 %s |\n", o.APIVsPlain, mark(o.APIVsPlain >= 0.24))
	fmt.Fprintf(&b, "| full stack / door's transaction | %.2f | (reported) |\n", o.APIVsDoor)
	fmt.Fprintf(&b, "\nThe door's transaction as pgbench replays it:\n\n")
	for _, l := range strings.Split(strings.TrimSpace(o.DoorScript), "\n") {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	if o.UnlimitedRPS > 0 {
		fmt.Fprintf(&b, "\nThe rate limiter's cost (wrk, the same read; Redis, local, local, Redis, each figure the mean of its two runs): %.0f req/s with the tenant's limit shared through Redis, %.0f with it decided in process memory: %.3f (target ≥ 0.97 %s)\n",
			o.LimitedRPS, o.UnlimitedRPS, o.LimitedVsNot, mark(o.LimitedVsNot >= 0.97))
	}
	if o.ProfilePath != "" {
		fmt.Fprintf(&b, "\nCPU profile of the server under wrk: %s (go tool pprof -top -cum %s)\n", o.ProfilePath, o.ProfilePath)
	}
	return b.String()
}
