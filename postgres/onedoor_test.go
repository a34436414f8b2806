package postgres_test

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/printer"
	"go/token"
	"go/types"
	"io"
	"io/fs"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The one-door property, checked on the source: outside the door, no Go
// file of the repository reaches a connection pool, opens a connection,
// builds a pipeline, starts or ends a transaction, or sets the tenant
// context. Two checks:
//
//   - every file of the repository, syntactically: no pgxpool import, no
//     Acquire, SendBatch, Begin or CopyFrom call, no pgx or pgconn Connect,
//     no string that is BEGIN, COMMIT, ROLLBACK, SET LOCAL, set_config() or
//     a session SET;
//   - package postgres, with its types: no expression outside the door has
//     the type of a pool, a connection, a pgx transaction or a batch. The
//     package exports none of them, so no other package can get one from it.
//
// Test files are not checked: they attack and inspect the database as a
// superuser on purpose.

// doorFiles may do all of it: they are the door.
var doorFiles = map[string]string{
	"postgres/door.go":      "the door: Run, InTenant, the platform path",
	"postgres/tx.go":        "the transaction handle the door gives out, and its bulk path",
	"postgres/pipeline.go":  "the one batch loop every transaction goes through",
	"postgres/directory.go": "the cells and their pools",
	"postgres/prepare.go":   "prepares the door's statements on the door's connections",
}

// adminFiles may connect, but as a migrating role (a superuser or the
// cluster owner), never as the application role, and never to tenant data:
// they create roles and apply migrations before the server serves.
var adminFiles = map[string]string{
	"postgres/migrate.go":     "applies the migrations as the migrating role",
	"postgres/roles.go":       "creates the application's login role as the migrating role",
	"cmd/tenantd/embedded.go": "sets up the embedded cluster as its superuser",
}

// adminDirs are not the server: the test clusters' code (superuser
// connections to throwaway databases), and the load benchmark, which seeds
// its database as the superuser and measures the door against a ceiling of
// the same SQL through plain pgx, without the door.
var adminDirs = []string{"internal/pgtest/", "internal/pgcluster/", "cmd/tenantd-bench/"}

func TestOneDoor(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if _, ok := doorFiles[rel]; ok {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		checked++
		for _, p := range doorViolations(fset, f, rel) {
			t.Errorf("%s: %s", p.pos, p.what)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d files under %s: is the walk broken?", checked, root)
	}
}

// doorTypes are what only the door may hold.
var doorTypes = []string{
	"github.com/jackc/pgx/v5/pgxpool.Pool", "github.com/jackc/pgx/v5/pgxpool.Conn",
	"github.com/jackc/pgx/v5.Conn", "github.com/jackc/pgx/v5.Tx", "github.com/jackc/pgx/v5.Batch",
	"github.com/jackc/pgx/v5.BatchResults", "github.com/jackc/pgx/v5/pgconn.PgConn",
}

func TestOneDoorTyped(t *testing.T) {
	t.Parallel()
	fset, files := typeCheckPostgres(t)
	for file, info := range files {
		base := "postgres/" + filepath.Base(fset.Position(file.Pos()).Filename)
		if _, ok := doorFiles[base]; ok {
			continue
		}
		if _, ok := adminFiles[base]; ok {
			continue
		}
		var found []string
		seen := map[int]bool{} // one report a line
		for expr, tv := range info.Types {
			pos := fset.Position(expr.Pos())
			if tv.Type == nil || seen[pos.Line] {
				continue
			}
			if name, ok := holdsDoorType(tv.Type); ok {
				seen[pos.Line] = true
				found = append(found, fmt.Sprintf("%s: %s holds a %s: only the door does", pos, exprString(fset, expr), name))
			}
		}
		slices.Sort(found)
		for _, f := range found {
			t.Error(f)
		}
	}
}

// typeCheckPostgres type-checks package postgres (without its tests) from
// source, with its dependencies from the build cache, and returns each
// file's type information.
func typeCheckPostgres(t *testing.T) (*token.FileSet, map[*ast.File]*types.Info) {
	t.Helper()
	out, err := osexec.Command("go", "list", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	exports := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if path, file, ok := strings.Cut(sc.Text(), "\t"); ok {
			exports[path] = file
		}
	}
	fset := token.NewFileSet()
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}}
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) { return os.Open(exports[path]) })
	_, err = (&types.Config{Importer: imp}).Check("github.com/tenantd/tenantd/postgres", fset, files, info)
	if err != nil {
		t.Fatalf("type-check postgres: %v", err)
	}
	// Split the expressions by file.
	byFile := map[*ast.File]*types.Info{}
	for _, f := range files {
		byFile[f] = &types.Info{Types: map[ast.Expr]types.TypeAndValue{}}
	}
	for expr, tv := range info.Types {
		for _, f := range files {
			if f.Pos() <= expr.Pos() && expr.Pos() < f.End() {
				byFile[f].Types[expr] = tv
				break
			}
		}
	}
	return fset, byFile
}

// holdsDoorType reports whether t is, points to, or is a function or
// container of one of doorTypes.
func holdsDoorType(t types.Type) (string, bool) {
	found := ""
	var walk func(types.Type, int) bool
	walk = func(t types.Type, depth int) bool {
		if depth > 4 {
			return false
		}
		switch u := t.(type) {
		case *types.Named:
			if u.Obj().Pkg() != nil {
				name := u.Obj().Pkg().Path() + "." + u.Obj().Name()
				for _, d := range doorTypes {
					if name == d {
						found = d
						return true
					}
				}
			}
			return false
		case *types.Pointer:
			return walk(u.Elem(), depth+1)
		case *types.Slice:
			return walk(u.Elem(), depth+1)
		case *types.Map:
			return walk(u.Key(), depth+1) || walk(u.Elem(), depth+1)
		case *types.Signature:
			for i := range u.Params().Len() {
				if walk(u.Params().At(i).Type(), depth+1) {
					return true
				}
			}
			for i := range u.Results().Len() {
				if walk(u.Results().At(i).Type(), depth+1) {
					return true
				}
			}
		case *types.Tuple:
			for i := range u.Len() {
				if walk(u.At(i).Type(), depth+1) {
					return true
				}
			}
		}
		return false
	}
	ok := walk(t, 0)
	return found, ok
}

func exprString(fset *token.FileSet, e ast.Expr) string {
	var b bytes.Buffer
	_ = printer.Fprint(&b, fset, e)
	return b.String()
}

type violation struct {
	pos  token.Position
	what string
}

// Statements that open or end a transaction, or set the tenant context.
var (
	txControl = regexp.MustCompile(`(?is)^\s*(BEGIN|START\s+TRANSACTION|COMMIT|ROLLBACK|END|ABORT|PREPARE\s+TRANSACTION|SAVEPOINT\s+\w+|RELEASE(\s+SAVEPOINT)?\s+\w+)` +
		`(\s+(WORK|TRANSACTION|ISOLATION|READ|AND|TO|PREPARED)\b[^;]*)?\s*(;.*)?$`)
	// A session SET is matched in capitals, as this repository writes SQL,
	// so that prose ("…; set REDIS_URL") is not.
	setContext = regexp.MustCompile(`(?i:\bSET\s+LOCAL\b|\bset_config\s*\()|(^|;)\s*(SET|RESET)\s+\S`)
	// The isolation level of the door's transaction is the caller's to
	// choose: it changes what a snapshot sees, never whose rows.
	txMode = regexp.MustCompile(`(?i)^\s*SET\s+TRANSACTION\s+(ISOLATION|READ)[^;]*$`)
)

// Calls that reach a pool or a connection, or run a transaction.
var (
	poolMethods = map[string]bool{"Acquire": true, "AcquireFunc": true, "AcquireAllIdle": true, "SendBatch": true,
		"Begin": true, "BeginTx": true, "CopyFrom": true, "Hijack": true}
	connectFuncs = map[string]bool{"pgx.Connect": true, "pgx.ConnectConfig": true, "pgconn.Connect": true,
		"pgconn.ConnectConfig": true, "stdlib.OpenDB": true, "stdlib.OpenDBFromPool": true, "sql.Open": true,
		"pgx.BeginFunc": true, "pgx.BeginTxFunc": true}
)

func doorViolations(fset *token.FileSet, f *ast.File, rel string) []violation {
	_, admin := adminFiles[rel]
	for _, d := range adminDirs {
		admin = admin || strings.HasPrefix(rel, d)
	}
	var out []violation
	add := func(n ast.Node, what string) { out = append(out, violation{fset.Position(n.Pos()), what}) }
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if path == "github.com/jackc/pgx/v5/pgxpool" && !admin {
			add(imp, "imports pgxpool: only the door holds pools")
		}
	}
	inPostgres := strings.HasPrefix(rel, "postgres/")
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BasicLit:
			if n.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(n.Value)
			if err != nil {
				return true
			}
			if txControl.MatchString(s) && !admin {
				add(n, "sends a transaction statement itself ("+firstLine(s)+"): only the door opens and ends transactions")
			}
			if setContext.MatchString(s) && !txMode.MatchString(s) && !admin {
				add(n, "sets the session or tenant context itself ("+firstLine(s)+"): only the door does")
			}
		case *ast.SelectorExpr:
			name := n.Sel.Name
			if x, ok := n.X.(*ast.Ident); ok && connectFuncs[x.Name+"."+name] && !admin {
				add(n, "opens a connection or a transaction ("+x.Name+"."+name+"): only the door does, as the application role")
			}
			if poolMethods[name] && !admin {
				add(n, "calls ."+name+": only the door acquires connections and sends pipelines")
			}
			if inPostgres && name == "pool" {
				add(n, "reaches a cell's pool: go through the door (Run, InTenant, onCell)")
			}
		}
		return true
	})
	return out
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
