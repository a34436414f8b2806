// Package redistest runs a private, throw-away redis-server for tests and
// benchmark harnesses.
//
// Tests never talk to a Redis that happens to run on the machine (6379 may
// hold somebody's data): each test package starts its own server that listens
// only on a unix socket in a temporary directory, persists nothing, and is
// stopped when the package's tests end.
//
// Usage, once per package:
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
//
// and in each test:
//
//	rdb, prefix := redistest.New(t)
//
// Tests share the server's database 0 and stay apart through the unique key
// prefix: sixteen numbered databases are too few for many parallel tests.
package redistest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tenantd/tenantd/internal/redisproc"
)

// serverURL is set by Main for the lifetime of the package's tests.
var serverURL string

// testSeq makes prefixes unique even when the same test name runs twice
// (-count, subtests with equal names).
var testSeq atomic.Uint64

// Main starts one redis-server for the test package, runs the tests and stops
// the server. Call it from TestMain. It exits the process, like m.Run's
// result would.
func Main(m *testing.M) {
	url, stop, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "redistest:", err)
		os.Exit(1)
	}
	serverURL = url
	code := m.Run()
	stop()
	os.Exit(code)
}

// New returns a client of the package's server and a key prefix that no other
// test uses. Every key the test writes must start with the prefix. The client
// is closed when the test ends.
func New(t testing.TB) (*redis.Client, string) {
	t.Helper()
	if serverURL == "" {
		t.Fatal("redistest: no server; call redistest.Main(m) from TestMain")
	}
	opt, err := redis.ParseURL(serverURL)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redistest: ping: %v", err)
	}
	name := strings.NewReplacer(" ", "_", "{", "(", "}", ")").Replace(t.Name())
	return rdb, fmt.Sprintf("test:%d:%s:", testSeq.Add(1), name)
}

// Setup starts the package's server without running the tests, for a
// TestMain that also needs another per-package server (pgtest.Main exits
// the process; the server dies with it, see killWithParent).
func Setup() (stop func(), err error) {
	for _, a := range os.Args {
		if strings.HasPrefix(a, "-test.fuzzworker") {
			return func() {}, nil // fuzz workers run no test that needs Redis
		}
	}
	url, stop, err := Start()
	if err != nil {
		return nil, err
	}
	serverURL = url
	return stop, nil
}

// Start is redisproc.Start, for harnesses that are not tests.
func Start() (url string, stop func(), err error) { return redisproc.Start() }
