// Package redisproc runs a private redis-server: on a unix socket only, with
// no snapshot and no append-only file, dying with the process that started
// it. Tests (internal/redistest), the benchmark harness and `tenantd serve`
// on its embedded default use it.
package redisproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	startTimeout = 15 * time.Second
	stopTimeout  = 10 * time.Second
)

// Start launches a private redis-server. It returns a URL for redis.ParseURL
// ("unix:///tmp/…/redis.sock") and a stop function that shuts the server down
// and removes its directory; stop is safe to call more than once.
//
// The server listens on no TCP port (--port 0), only on a socket readable by
// this user, and never writes a snapshot or an append-only file.
func Start() (url string, stop func(), err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, errors.New("redis-server not found on PATH: apt-get install -y redis-server")
	}
	dir, err := os.MkdirTemp("", "tenantd-redis-")
	if err != nil {
		return "", nil, err
	}
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command(bin,
		"--port", "0",
		"--unixsocket", sock,
		"--unixsocketperm", "700",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
		"--daemonize", "no",
	)
	var output syncBuffer
	cmd.Stdout, cmd.Stderr = &output, &output
	cmd.SysProcAttr = killWithParent()
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()

	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(stopTimeout):
				_ = cmd.Process.Kill()
				<-exited
			}
			os.RemoveAll(dir)
		})
	}

	url = "unix://" + sock
	if err := waitReady(url, exited); err != nil {
		stop()
		return "", nil, fmt.Errorf("%w\nredis-server output:\n%s", err, output.String())
	}
	return url, stop, nil
}

// waitReady polls until the server answers PING, it exits, or startTimeout
// passes.
func waitReady(url string, exited <-chan struct{}) error {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return err
	}
	opt.MaxRetries = -1
	rdb := redis.NewClient(opt)
	defer rdb.Close()

	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("redis-server exited during start-up")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server not ready after %v: %w", startTimeout, err)
		}
	}
}

// syncBuffer collects the server's output for error messages; the process
// writes to it from os/exec's copying goroutine.
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
