//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package h1

import (
	"errors"
	"syscall"
)

// alive reports whether an idle connection can carry a request: the server
// has not closed it and has sent nothing unasked. Without a read loop nobody
// watches an idle connection, so the socket is peeked, without blocking,
// before it is reused.
func (c *conn) alive() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var (
		perr error
		b    [1]byte
	)
	err = rc.Read(func(fd uintptr) bool {
		_, _, perr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // never wait for readiness
	})
	switch {
	case err != nil:
		return false
	case errors.Is(perr, syscall.EAGAIN), errors.Is(perr, syscall.EWOULDBLOCK):
		return true // nothing to read: still open
	case perr != nil:
		return false // reset, or another error
	default:
		return false // n == 0: closed by the server; n > 0: bytes nobody asked for
	}
}
