package main

import (
	"context"
	"net"
	"syscall"
)

// listen opens a TCP listener on addr. With reusePort, other processes of
// the same user may listen on the same address at once and the kernel
// spreads new connections among them (SO_REUSEPORT): two verifier replicas
// on one node's network share its ports this way.
func listen(ctx context.Context, addr string, reusePort bool) (net.Listener, error) {
	lc := net.ListenConfig{}
	if reusePort {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var sockErr error
			if err := c.Control(func(fd uintptr) {
				sockErr = setReusePort(int(fd))
			}); err != nil {
				return err
			}
			return sockErr
		}
	}
	return lc.Listen(ctx, "tcp", addr)
}
