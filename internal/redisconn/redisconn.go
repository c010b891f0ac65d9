// Package redisconn builds every go-redis client keyward makes: the
// verifier's shared rate-limit store and assertion replay cache, and the
// tests' clients of the same servers. One builder keeps TLS, authentication
// and the retry rule the same for each.
package redisconn

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config is how to reach one Redis.
type Config struct {
	// Address is host:port.
	Address string
	// DB is the database number.
	DB int
	// Username is a Redis 6+ ACL user; empty for the default user.
	Username string
	// Password authenticates Username (or the default user's
	// requirepass); empty for none.
	Password string
	// TLS, when set, is the only way the client connects; its minimum
	// version is raised to TLS 1.2.
	TLS *tls.Config
	// Timeout bounds dialing (with the TLS handshake) and each round-trip.
	Timeout time.Duration
}

// NewClient is a client of c's server.
func NewClient(c Config) *redis.Client { return redis.NewClient(Options(c)) }

// Options are the go-redis options for c.
func Options(c Config) *redis.Options {
	o := &redis.Options{
		Addr: c.Address, DB: c.DB, Username: c.Username, Password: c.Password,
		DialTimeout: c.Timeout, ReadTimeout: c.Timeout, WriteTimeout: c.Timeout,
		// One try: a retry would double the wait of every request during
		// an outage; callers that need to survive one (the fallback
		// store) probe again on their own schedule.
		MaxRetries: -1,
	}
	if c.TLS != nil {
		o.TLSConfig = c.TLS.Clone()
		if o.TLSConfig.MinVersion < tls.VersionTLS12 {
			o.TLSConfig.MinVersion = tls.VersionTLS12
		}
		o.Dialer = tlsDialer(o.TLSConfig, c.Timeout)
	}
	return o
}

// tlsDialer completes the handshake while dialing, within the context,
// and says that it was TLS that failed: go-redis's own dialer ignores
// the context, and a bare x509 error does not say which connection it was.
func tlsDialer(conf *tls.Config, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{Timeout: timeout}
		raw, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conn := tls.Client(raw, serverNamed(conf, addr))
		hctx := ctx
		if timeout > 0 {
			var cancel context.CancelFunc
			hctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		if err := conn.HandshakeContext(hctx); err != nil {
			_ = raw.Close()
			return nil, fmt.Errorf("TLS handshake with Redis at %s: %w", addr, err)
		}
		return conn, nil
	}
}

// serverNamed verifies the server against the host of its address unless
// a server name is configured, as tls.Dial does.
func serverNamed(conf *tls.Config, addr string) *tls.Config {
	if conf.ServerName != "" {
		return conf
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	c := conf.Clone()
	c.ServerName = host
	return c
}
