// Command tenantd is the multi-tenant core's one binary: the API server and
// the operator's commands. It only wires the packages together; every line of
// SQL lives in package postgres.
//
// Usage:
//
//	tenantd serve [--demo]
//	tenantd migrate
//	tenantd tenant create --slug S --name N [--plan P] [--region R] --owner-email E --owner-password P [--json]
//	tenantd tenant list [--json]
//	tenantd tenant show --tenant SLUG [--json]
//	tenantd tenant set-plan --tenant SLUG --plan P
//	tenantd tenant set-limit --tenant SLUG --limit NAME (--value N | --reset)
//	tenantd tenant set-feature --tenant SLUG --feature NAME --value JSON
//	tenantd tenant unset-feature --tenant SLUG --feature NAME
//	tenantd tenant suspend|resume --tenant SLUG
//	tenantd verify-isolation
//	tenantd keys rotate [--now]
//	tenantd keys list [--json]
//	tenantd audit verify [--tenant SLUG] [--expect SEQ:HASH] [--checkpoints FILE]
//	tenantd audit checkpoint [--checkpoints FILE]
//	tenantd operator token [--operator UUID] [--ttl 15m]
//
// Configuration comes from the environment (see `tenantd help`).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/tenantd/tenantd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Libraries that log through the default logger (ratelimit) log JSON too.
	slog.SetDefault(newLogger(os.Getenv, os.Stderr, slog.LevelInfo))
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// getenv looks up a configuration variable; os.Getenv in production, a map
// in tests.
type getenv func(string) string

// cli is what every command receives.
type cli struct {
	env    getenv
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, c *cli, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the API server (embedded PostgreSQL unless DATABASE_URL is set)", cmdServe},
		{"migrate", "apply pending database migrations (MIGRATE_DATABASE_URL, or the embedded cluster)", cmdMigrate},
		{"tenant", "tenant create | list | show | set-plan | set-limit | set-feature | unset-feature | suspend | resume:\n" +
			"                    provision tenants, list them, manage one's plan, limits, features and status", cmdTenant},
		{"verify-isolation", "inspect the live catalog for ways around tenant isolation; exit 1 on any finding", cmdVerifyIsolation},
		{"keys", "keys rotate | keys list: token signing keys", cmdKeys},
		{"audit", "audit verify | audit checkpoint | audit seal: verify the audit hash chains against their signed checkpoints; sign the heads; chain the events written since", cmdAudit},
		{"operator", "operator token: mint a short-lived platform operator token", cmdOperator},
		{"help", "show this help", nil},
	}
}

// exitError ends a command with an exit code; what it had to say is already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, env getenv, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		usage(stdout)
		return 0
	}
	for _, cmd := range commands() {
		if cmd.name != name || cmd.run == nil {
			continue
		}
		// Operator commands print their results; they log only warnings
		// unless TENANTD_LOG_LEVEL says otherwise.
		defLevel := slog.LevelWarn
		if name == "serve" {
			defLevel = slog.LevelInfo
		}
		c := &cli{env: env, stdout: stdout, stderr: stderr, log: newLogger(env, stderr, defLevel)}
		err := cmd.run(ctx, c, rest)
		if len(rest) > 0 && (name == "tenant" || name == "keys" || name == "audit" || name == "operator") {
			name += " " + rest[0]
		}
		var ee exitError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ee):
			return ee.code
		default:
			fmt.Fprintf(stderr, "tenantd %s: %s\n", name, errorText(err))
			return 1
		}
	}
	fmt.Fprintf(stderr, "tenantd: unknown command %q\n\n", name)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: tenantd <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-17s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Environment:
  TENANTD_ADDR             listen address (default 127.0.0.1:8080)
  TENANTD_DATA             data directory: embedded cluster in pg/, master.key (default ./var)
  DATABASE_URL             application login role; unset = embedded PostgreSQL cluster
  MIGRATE_DATABASE_URL     superuser URL used to migrate (serve migrates first when set)
  REDIS_URL                Redis for distributed rate limits (unset: a private redis-server
                           on the embedded default, none with DATABASE_URL)
  TENANTD_MASTER_KEY       base64 32-byte key sealing signing keys (default: file $TENANTD_DATA/master.key)
  TENANTD_TRUSTED_PROXIES  comma-separated CIDRs whose X-Forwarded-For and -Proto are trusted
  TENANTD_SECURE_COOKIES   1 makes every cookie Secure (e.g. behind a TLS proxy)
  TENANTD_ISSUER           token issuer (default tenantd)
  TENANTD_METRICS_ADDR     serve /metrics and /debug/pprof/ on this internal address (unset: /metrics on the API,
                           for operator tokens only)
  TENANTD_AUDIT_CHECKPOINTS
                           the signed audit checkpoint log (default $TENANTD_DATA/audit-checkpoints.jsonl)
  TENANTD_AUDIT_CHECKPOINT_EVERY
                           how often serve signs every audit chain's head (default 5m; 0 = never)
  TENANTD_AUDIT_SEAL_EVERY how often serve chains the audit events written since (default 1s;
                           0: this instance never seals, another must)
  TENANTD_SECURITY_CHECK_INTERVAL
                           time between the server's isolation and audit-chain checks
                           (default 1h; 0: at start only)
  TENANTD_TENANT_SHARE     the fraction of the connection pool one tenant's requests may hold
                           at once (default 0.75)
  TENANTD_HEAVY_PER_TENANT how many exports one tenant may run at once on an instance
                           (default 2; one more is answered 429)
  TENANTD_LOG_LEVEL        debug, info, warn or error (default info)
  TENANTD_DEMO             1 provisions the demo tenants acme and globex

Run "tenantd <command> -h" for a command's flags.
`)
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(c *cli, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: tenantd %s\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, refusing positional arguments; a usage error
// exits 2 (the flag package already printed it).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return exitError{2}
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitError{2}
	}
	return nil
}

// subcommand dispatches `tenantd <group> <sub> ...`.
func subcommand(ctx context.Context, c *cli, group string, args []string, subs map[string]func(context.Context, *cli, []string) error) error {
	names := slices.Sorted(maps.Keys(subs))
	if len(args) == 0 || subs[args[0]] == nil {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintf(c.stdout, "Usage: tenantd %s <%s> [flags]\n", group, strings.Join(names, "|"))
			return nil
		}
		fmt.Fprintf(c.stderr, "Usage: tenantd %s <%s> [flags]\n", group, strings.Join(names, "|"))
		return exitError{2}
	}
	return subs[args[0]](ctx, c, args[1:])
}

// newLogger returns the JSON logger on stderr at TENANTD_LOG_LEVEL, else level.
func newLogger(env getenv, stderr io.Writer, level slog.Level) *slog.Logger {
	switch strings.ToLower(strings.TrimSpace(env("TENANTD_LOG_LEVEL"))) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "info":
		level = slog.LevelInfo
	case "error":
		level = slog.LevelError
	}
	return slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
}

// config reads a variable with a default.
func (c *cli) config(name, def string) string {
	if v := strings.TrimSpace(c.env(name)); v != "" {
		return v
	}
	return def
}

// dataDir is TENANTD_DATA (default ./var).
func (c *cli) dataDir() string { return c.config("TENANTD_DATA", "./var") }

// errorText renders an error for an operator: an application error's
// message and invalid fields, else the error itself.
func errorText(err error) string {
	e, ok := tenantd.AsError(err)
	if !ok || len(e.Fields) == 0 {
		return err.Error()
	}
	var b strings.Builder
	b.WriteString(e.Message)
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "\n  %s: %s", strings.TrimPrefix(f.Pointer, "/"), f.Detail)
	}
	return b.String()
}
