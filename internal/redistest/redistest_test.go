package redistest_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tenantd/tenantd/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func TestNewGivesWorkingClientAndUniquePrefix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, prefixA := redistest.New(t)
	b, prefixB := redistest.New(t)
	if prefixA == prefixB {
		t.Fatalf("two calls returned the same prefix %q", prefixA)
	}
	if err := a.Set(ctx, prefixA+"k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, prefixB+"k", "b", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got := a.Get(ctx, prefixA+"k").Val(); got != "a" {
		t.Fatalf("prefix A value = %q, want a", got)
	}
}

// The private server must not listen on TCP: a test that reached the
// machine's own Redis on 6379 would be using somebody else's data.
func TestServerListensOnlyOnUnixSocket(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.New(t)
	if network := rdb.Options().Network; network != "unix" {
		t.Fatalf("network = %q, want unix", network)
	}
	port, err := rdb.ConfigGet(context.Background(), "port").Result()
	if err != nil {
		t.Fatal(err)
	}
	if port["port"] != "0" {
		t.Fatalf("port = %q, want 0", port["port"])
	}
}

func TestStartAndStop(t *testing.T) {
	t.Parallel()
	url, stop, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if !strings.HasPrefix(url, "unix://") {
		t.Fatalf("url = %q, want unix://…", url)
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}

	stop()
	stop() // idempotent
	if _, err := os.Stat(opt.Addr); !os.IsNotExist(err) {
		t.Fatalf("socket %s still present after stop (err=%v)", opt.Addr, err)
	}
}
