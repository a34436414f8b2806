package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func connect(t *testing.T, db string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), Cluster(t).SuperuserURL(db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	var exists bool
	err := connect(t, "postgres").QueryRow(t.Context(),
		"SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		t.Fatal(err)
	}
	return exists
}

// Parallel tests each write to their own database and must not see the
// other's rows; their databases are gone once they end.
func TestParallelDatabasesAreIsolated(t *testing.T) {
	t.Parallel()
	names := make(chan string, 2)
	t.Run("group", func(t *testing.T) {
		for _, who := range []string{"a", "b"} {
			t.Run(who, func(t *testing.T) {
				t.Parallel()
				db := NewDatabase(t, "")
				names <- db
				conn := connect(t, db)
				if _, err := conn.Exec(t.Context(), "CREATE TABLE owner (who text)"); err != nil {
					t.Fatal(err)
				}
				if _, err := conn.Exec(t.Context(), "INSERT INTO owner VALUES ($1)", who); err != nil {
					t.Fatal(err)
				}
				rows, _ := conn.Query(t.Context(), "SELECT who FROM owner")
				got, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil || len(got) != 1 || got[0] != who {
					t.Fatalf("rows in %s: %v, %v; want only %q", db, got, err, who)
				}
			})
		}
	})
	close(names)
	a, b := <-names, <-names
	if a == b {
		t.Fatalf("both tests got database %s", a)
	}
	for _, db := range []string{a, b} {
		if !keep && databaseExists(t, db) {
			t.Errorf("database %s still exists after its test", db)
		}
	}
}

func schemaTemplate(t *testing.T) string {
	return Template(t, "schema v1", func(ctx context.Context, url string) error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "CREATE TABLE item (id int PRIMARY KEY)")
		return err
	})
}

// Clones of a template start with its schema, independently of each other.
func TestTemplateClones(t *testing.T) {
	t.Parallel()
	for _, id := range []int{1, 2, 3} {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			conn := connect(t, NewDatabase(t, schemaTemplate(t)))
			if _, err := conn.Exec(t.Context(), "INSERT INTO item VALUES ($1)", id); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM item").Scan(&n); err != nil || n != 1 {
				t.Fatalf("count = %d, %v; want 1: another clone's row leaked in", n, err)
			}
		})
	}
}
