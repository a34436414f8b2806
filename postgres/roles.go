package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// EnsureLoginRole creates (or updates) a LOGIN role that is a member of
// tenantd_app and nothing else: what `tenantd serve` connects as. adminURL
// must be a role that may create roles. An empty password means the role
// can log in only where pg_hba.conf trusts it (the embedded cluster's socket).
func EnsureLoginRole(ctx context.Context, adminURL, name, password string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("postgres: connect as admin: %w", err)
	}
	defer conn.Close(ctx)
	ident := pgx.Identifier{name}.Sanitize()
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, name).Scan(&exists); err != nil {
		return err
	}
	stmt := "CREATE ROLE " + ident
	if exists {
		stmt = "ALTER ROLE " + ident
	}
	stmt += " LOGIN INHERIT NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
	if password != "" {
		stmt += " PASSWORD " + quoteLiteral(password)
	}
	if _, err := conn.Exec(ctx, stmt); err != nil && !exists {
		// Another process may have created it between the check and here.
		if _, err2 := conn.Exec(ctx, "ALTER ROLE "+ident+" LOGIN"); err2 != nil {
			return fmt.Errorf("postgres: create role %s: %w", name, err)
		}
	}
	if _, err := conn.Exec(ctx, "GRANT tenantd_app TO "+ident); err != nil {
		return fmt.Errorf("postgres: grant tenantd_app to %s: %w", name, err)
	}
	// Same setting as tenantd_app: role settings are not inherited.
	_, err = conn.Exec(ctx, "ALTER ROLE "+ident+" SET citus.propagate_set_commands = 'local'")
	return err
}

func quoteLiteral(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}

// WithUser returns a connection string (URL or keyword/value) for another
// role of the same server and database: the user is replaced and any
// password dropped.
func WithUser(conn, user string) string {
	if strings.HasPrefix(conn, "postgres://") || strings.HasPrefix(conn, "postgresql://") {
		i := strings.Index(conn, "://") + 3
		j := strings.Index(conn[i:], "@")
		if j >= 0 {
			return conn[:i] + user + conn[i+j:]
		}
		return conn[:i] + user + "@" + conn[i:]
	}
	var parts []string
	for _, kv := range strings.Fields(conn) {
		if !strings.HasPrefix(kv, "user=") && !strings.HasPrefix(kv, "password=") {
			parts = append(parts, kv)
		}
	}
	return strings.Join(append(parts, "user="+user), " ")
}
