package h1

import (
	"bufio"
	"context"
	"io"
	"sync"
	"sync/atomic"
)

// body is a response body read from a connection. Read to its end it returns
// the connection to the pool, unless the exchange asked for a close; closed
// before its end it closes the connection.
type body struct {
	rc   io.ReadCloser // http.ReadResponse's body
	c    *conn
	ctx  context.Context
	stop func() bool // stops the context's interrupt
	keep bool        // the connection may carry another request
	done atomic.Bool // the connection was released
	mu   sync.Mutex
	shut bool // Close was called
	eof  bool
}

// Read reads the body. An error after the request's context ended is the
// context's cause, as with net/http's Transport.
func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	shut, eof := b.shut, b.eof
	b.mu.Unlock()
	switch {
	case shut:
		return 0, ErrBodyReadAfterClose
	case eof:
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.mu.Lock()
		b.eof = true
		b.mu.Unlock()
		b.release(true)
	case err != nil:
		if b.ctx.Err() != nil {
			err = context.Cause(b.ctx)
		}
		b.release(false)
	}
	return n, err
}

// Close closes the body; before its end, the connection too.
func (b *body) Close() error {
	b.mu.Lock()
	if b.shut {
		b.mu.Unlock()
		return nil
	}
	b.shut = true
	b.mu.Unlock()
	// The connection goes first: closing http's body drains what is left.
	b.release(false)
	_ = b.rc.Close()
	return nil
}

// release ends the exchange once: the connection goes back to the pool when
// the body was read to its end, the exchange allows it, the context's
// interrupt had not fired and nothing follows the response unasked.
func (b *body) release(eof bool) {
	if !b.done.CompareAndSwap(false, true) {
		return
	}
	b.c.t.finish(b.c, b.stop, eof && b.keep)
}

// switchBody is the body of a 101 Switching Protocols response: the
// connection itself, handed to the caller, bytes already buffered first.
type switchBody struct {
	br *bufio.Reader // until it is empty
	c  *conn
}

func (s *switchBody) Read(p []byte) (int, error) {
	if s.br != nil {
		if s.br.Buffered() > 0 {
			return s.br.Read(p)
		}
		s.br = nil
	}
	return s.c.nc.Read(p)
}

func (s *switchBody) Write(p []byte) (int, error) { return s.c.nc.Write(p) }

func (s *switchBody) Close() error {
	s.c.close()
	return nil
}
