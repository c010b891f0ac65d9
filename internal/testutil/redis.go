package testutil

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"github.com/redis/go-redis/v9"
)

// RedisServer is a redis-server of the test's own on a loopback port,
// without persistence, that the test can stop and start again on the same
// port.
type RedisServer struct {
	t    testing.TB
	bin  string
	dir  string
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error
	stderr *bytes.Buffer
}

// StartRedisServer starts a RedisServer that stops when the test ends.
// Without redis-server installed the test is skipped, or fails under CI.
func StartRedisServer(t testing.TB) *RedisServer {
	t.Helper()
	s := &RedisServer{t: t, bin: Program(t, "redis-server", "redis-server", "/usr/bin/redis-server"), dir: t.TempDir(), port: FreePort(t)}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// FreePort is a TCP port on loopback that nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr is host:port.
func (s *RedisServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Client returns a client of its own, as a separate verifier replica has;
// it fails at once rather than retrying, so that an outage shows quickly.
func (s *RedisServer) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr:         s.Addr(),
		MaxRetries:   -1,
		DialTimeout:  time.Second,
		ReadTimeout:  time.Second,
		WriteTimeout: time.Second,
	})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Start runs the server and waits until it answers PING.
func (s *RedisServer) Start() {
	t := s.t
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var stderr bytes.Buffer
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir)
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s.cmd, s.exited, s.stderr = cmd, exited, &stderr

	ping := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	defer ping.Close()
	gomega.NewWithT(t).Eventually(func() error {
		select {
		case err := <-exited:
			exited <- err
			return gomega.StopTrying(fmt.Sprintf("redis-server exited: %v: %s", err, stderr.String()))
		default:
		}
		return ping.Ping(context.Background()).Err()
	}).WithTimeout(20 * time.Second).WithPolling(20 * time.Millisecond).Should(gomega.Succeed())
}

// Stop kills the server, as a crash or a lost node would, and waits until
// it is gone.
func (s *RedisServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	s.t.Logf("redis-server on port %d stopped: %v", s.port, <-s.exited)
	s.cmd = nil
}
