package h1

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"time"
)

// aLongTimeAgo is a deadline in the past: setting it interrupts any read or
// write under way on a connection at once.
var aLongTimeAgo = time.Unix(1, 0)

// conn is one connection to an upstream. It is used by one request at a time;
// only interrupt and the idle timer reach it from elsewhere.
type conn struct {
	t   *Transport
	key string // host:port, the idle pool's key
	nc  net.Conn
	br  *bufio.Reader // reads through the conn itself, for the header limit

	// readLimit is what is left of the response header bytes; lifted to
	// math.MaxInt64 once the headers are read.
	readLimit int64
	sawEOF    bool  // the server closed its side
	nwrite    int64 // bytes written to nc
	writeErr  error // the last error writing to nc
	reused    bool  // it carried a request before this one

	// idle is set while the connection is in the pool; guarded by t.mu.
	idle      bool
	idleTimer *time.Timer

	mu          sync.Mutex
	interrupted bool // the request's context ended: deadlines stay in the past
	closeOnce   sync.Once
}

func newConn(t *Transport, key string, nc net.Conn) *conn {
	c := &conn{t: t, key: key, nc: nc, readLimit: math.MaxInt64}
	c.br = bufio.NewReaderSize(c, bufferSize)
	return c
}

// Read reads from the network, counting against the header limit while it is
// set, as net/http's persistConn does.
func (c *conn) Read(p []byte) (int, error) {
	if c.readLimit <= 0 {
		return 0, fmt.Errorf("%w: read limit of %d bytes exhausted", ErrHeadersTooLarge, c.t.maxHeaderBytes)
	}
	if int64(len(p)) > c.readLimit {
		p = p[:c.readLimit]
	}
	n, err := c.nc.Read(p)
	if err == io.EOF {
		c.sawEOF = true
	}
	c.readLimit -= int64(n)
	return n, err
}

// Write writes to the network, counting the bytes that went out.
func (c *conn) Write(p []byte) (int, error) {
	n, err := c.nc.Write(p)
	c.nwrite += int64(n)
	if err != nil {
		c.writeErr = err
	}
	return n, err
}

// limitHeaders starts the header limit for the next response.
func (c *conn) limitHeaders() { c.readLimit = c.t.maxHeaderBytes }

// unlimit lifts the header limit for the body.
func (c *conn) unlimit() { c.readLimit = math.MaxInt64 }

// headerLimitHit reports whether the header limit stopped a read.
func (c *conn) headerLimitHit() bool { return c.readLimit <= 0 }

// interrupt is the request context's AfterFunc: it moves the deadlines into
// the past, so that a dial, write or read under way returns at once.
func (c *conn) interrupt() {
	c.mu.Lock()
	c.interrupted = true
	_ = c.nc.SetDeadline(aLongTimeAgo)
	c.mu.Unlock()
}

// setReadDeadline sets the read deadline unless the request was interrupted.
func (c *conn) setReadDeadline(t time.Time) {
	c.mu.Lock()
	if !c.interrupted {
		_ = c.nc.SetReadDeadline(t)
	}
	c.mu.Unlock()
}

// close closes the network connection; later calls do nothing.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		if c.idleTimer != nil {
			c.idleTimer.Stop()
		}
		_ = c.nc.Close()
	})
}
