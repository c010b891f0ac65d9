package main

import (
	"context"
	"net"
	"testing"

	. "github.com/onsi/gomega"
)

// Two verifiers on one host's network listen on the same port only when
// both ask for it.
func TestListenSharesAPortOnlyWithReusePort(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	first, err := listen(ctx, "127.0.0.1:0", true)
	g.Expect(err).NotTo(HaveOccurred())
	defer first.Close()
	addr := first.Addr().String()

	second, err := listen(ctx, addr, true)
	g.Expect(err).NotTo(HaveOccurred())
	defer second.Close()

	_, err = listen(ctx, addr, false)
	g.Expect(err).To(MatchError(ContainSubstring("address already in use")))

	// Closing one leaves the port served by the other.
	g.Expect(first.Close()).To(Succeed())
	go func() {
		if c, err := second.Accept(); err == nil {
			c.Close()
		}
	}()
	conn, err := net.Dial("tcp", addr)
	g.Expect(err).NotTo(HaveOccurred())
	conn.Close()
}
