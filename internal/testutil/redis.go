package testutil

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"github.com/redis/go-redis/v9"

	"github.com/keyward-dev/keyward/internal/redisconn"
)

// RedisServer is a redis-server of the test's own on a loopback port,
// without persistence, that the test can stop and start again on the same
// port.
type RedisServer struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	opts RedisServerOptions
	// args are the TLS and authentication arguments; admin is the
	// connection that sees the server up and that Client hands out.
	args  []string
	admin redisconn.Config

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error
	stderr *bytes.Buffer
}

// RedisServerOptions make a server that only speaks TLS or that wants a
// password, as a production Redis does.
type RedisServerOptions struct {
	// TLS, when set, makes the server speak TLS only (no plain port).
	TLS *RedisTLS
	// Password is the default user's requirepass.
	Password string
	// Users are ACL users (Redis 6+), each allowed every command.
	Users []RedisUser
}

// RedisTLS is a TLS-only server: CA issues its certificate (for 127.0.0.1
// and localhost) and, when AuthClients asks for one, the clients'.
type RedisTLS struct {
	CA *CA
	// AuthClients is redis-server's tls-auth-clients: "no", "optional" or
	// "yes" (the default when empty).
	AuthClients string
}

// RedisUser is an ACL user with a password.
type RedisUser struct {
	Name, Password string
	// Keys is the ACL key pattern the user may touch ("keyward:*");
	// empty for every key.
	Keys string
}

// StartRedisServer starts a RedisServer that stops when the test ends.
// Without redis-server installed the test is skipped, or fails under CI.
func StartRedisServer(t testing.TB) *RedisServer {
	t.Helper()
	return StartRedisServerWith(t, RedisServerOptions{})
}

// StartRedisServerWith starts a RedisServer with TLS or authentication.
func StartRedisServerWith(t testing.TB, o RedisServerOptions) *RedisServer {
	t.Helper()
	s := &RedisServer{t: t, bin: Program(t, "redis-server", "redis-server", "/usr/bin/redis-server"), dir: t.TempDir(), port: FreePort(t), opts: o}
	s.configure()
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// configure turns the options into arguments, and into the admin
// connection: TLS with a client certificate of the CA, and the default
// user's password.
func (s *RedisServer) configure() {
	s.args = []string{"--port", strconv.Itoa(s.port)}
	s.admin = redisconn.Config{Address: s.Addr(), Password: s.opts.Password, Timeout: time.Second}
	if tl := s.opts.TLS; tl != nil {
		serverCert, serverKey := tl.CA.Issue(s.t, CertOptions{CommonName: "redis", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}).WriteFiles(s.t, s.dir, "server")
		auth := tl.AuthClients
		if auth == "" {
			auth = "yes"
		}
		s.args = []string{"--port", "0", "--tls-port", strconv.Itoa(s.port),
			"--tls-cert-file", serverCert, "--tls-key-file", serverKey,
			"--tls-ca-cert-file", tl.CA.WriteFile(s.t, s.dir, "ca"), "--tls-auth-clients", auth}
		s.admin.TLS = &tls.Config{RootCAs: tl.CA.Pool(), Certificates: []tls.Certificate{tl.CA.Issue(s.t, CertOptions{CommonName: "admin"}).TLSCertificate()}}
	}
	if s.opts.Password != "" {
		s.args = append(s.args, "--requirepass", s.opts.Password)
	}
	for _, u := range s.opts.Users {
		// One argument per word: redis-server quotes an argument that
		// holds spaces.
		keys := u.Keys
		if keys == "" {
			keys = "*"
		}
		s.args = append(s.args, "--user", u.Name, "on", ">"+u.Password, "~"+keys, "&*", "+@all")
	}
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
// With TLS or a password it connects as the administrator does.
func (s *RedisServer) Client() *redis.Client {
	c := redisconn.NewClient(s.admin)
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
	cmd := exec.Command(s.bin, append([]string{"--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir}, s.args...)...)
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s.cmd, s.exited, s.stderr = cmd, exited, &stderr

	ping := redisconn.NewClient(s.admin)
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
