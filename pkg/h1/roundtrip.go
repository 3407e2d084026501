package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"time"

	"golang.org/x/net/http/httpguts"
)

// requestWriter hides the *bufio.Writer type from [http.Request.Write], which
// would otherwise flush the headers on their own before a body it does not
// know to be in memory (the transport's body wrapper hides that): headers and
// a small body go out in one write, and are flushed by roundTripConn.
type requestWriter struct{ *bufio.Writer }

// roundTrip sends req over a pooled or new connection, and sends it again on
// another after a failure that net/http's Transport would retry.
func (t *Transport) roundTrip(req *http.Request) (*http.Response, error) {
	if err := checkRequest(req); err != nil {
		closeBody(req)
		return nil, err
	}
	ctx := req.Context()
	key := hostPort(req.URL)
	orig := req
	for {
		if ctx.Err() != nil {
			closeBody(req)
			return nil, context.Cause(ctx)
		}
		c, err := t.getConn(ctx, key)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, err := t.roundTripConn(ctx, c, req)
		if err == nil {
			resp.Request = orig
			return resp, nil
		}
		if !shouldRetry(c, req, err) {
			// The body was closed by the write, as the Transport closes it.
			var nw nothingWrittenError
			var rs readFromServerError
			switch {
			case errors.As(err, &nw):
				err = nw.err
			case errors.As(err, &rs):
				err = rs.err
			}
			return nil, err
		}
		if req, err = rewindBody(req); err != nil {
			return nil, err
		}
	}
}

// roundTripConn writes req on c and reads the response headers. Every error
// leaves c closed, or back in the pool when nothing reached it.
func (t *Transport) roundTripConn(ctx context.Context, c *conn, req *http.Request) (*http.Response, error) {
	stop := context.AfterFunc(ctx, c.interrupt)
	fail := func(err error) (*http.Response, error) {
		stop()
		c.close()
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, err
	}

	if err := t.writeRequest(c, req); err != nil {
		var refused refusedError
		if errors.As(err, &refused) {
			// The request failed its own checks into the buffer: the
			// connection never saw a byte and stays usable.
			if stop() {
				t.putIdle(c)
			} else {
				c.close()
			}
			return nil, refused.err
		}
		return fail(err)
	}

	if t.headerTimeout > 0 {
		c.setReadDeadline(time.Now().Add(t.headerTimeout))
	}
	c.limitHeaders()
	if _, err := c.br.Peek(1); err != nil {
		return fail(t.headerError(c, readFromServerError{err}))
	}
	if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.GotFirstResponseByte != nil {
		trace.GotFirstResponseByte()
	}
	resp, err := t.readResponse(ctx, c, req)
	if err != nil {
		return fail(t.headerError(c, err))
	}
	c.unlimit()
	if t.headerTimeout > 0 {
		c.setReadDeadline(time.Time{})
	}

	keep := !resp.Close && !req.Close && resp.StatusCode >= 200
	if resp.StatusCode == http.StatusSwitchingProtocols && isProtocolSwitch(resp.Header) {
		// The connection is the caller's now, outside the request's context.
		if !stop() {
			return fail(context.Canceled)
		}
		sb := &switchBody{c: c}
		if c.br.Buffered() > 0 {
			sb.br = c.br
		}
		resp.Body = sb
		return resp, nil
	}
	if req.Method == http.MethodHead || resp.ContentLength == 0 {
		t.finish(c, stop, keep)
		return resp, nil
	}
	resp.Body = &body{rc: resp.Body, c: c, ctx: ctx, stop: stop, keep: keep}
	return resp, nil
}

// refusedError is a request that [http.Request.Write] refused before any of
// it reached the connection (an invalid Host header, a control character in
// the URL).
type refusedError struct{ err error }

func (e refusedError) Error() string { return e.err.Error() }
func (e refusedError) Unwrap() error { return e.err }

// writeRequest writes req with a pooled writer and flushes it. A failure to
// read the request body is returned as it is, as net/http's Transport returns
// it, so that callers can tell their own body's errors apart.
func (t *Transport) writeRequest(c *conn, req *http.Request) error {
	start := c.nwrite
	var tb *trackedBody
	out := req
	if req.Body != nil && req.Body != http.NoBody {
		tb = &trackedBody{rc: req.Body}
		r := *req
		r.Body = tb
		out = &r
	}
	bw := t.writers.Get().(*bufio.Writer)
	bw.Reset(c)
	err := out.Write(requestWriter{bw})
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	t.writers.Put(bw)
	switch {
	case err == nil:
		return nil
	case tb != nil && tb.err != nil:
		return tb.err
	case c.writeErr == nil && c.nwrite == start:
		return refusedError{err}
	case c.nwrite == start:
		return nothingWrittenError{fmt.Errorf("h1: writing the request: %w", err)}
	}
	return fmt.Errorf("h1: writing the request: %w", err)
}

// readResponse reads the final response, passing 1xx responses other than
// 101 to the request's httptrace.ClientTrace. Their bytes count against the
// header limit, unless the trace reads them (Got1xxResponse), as with
// net/http's Transport.
func (t *Transport) readResponse(ctx context.Context, c *conn, req *http.Request) (*http.Response, error) {
	trace := httptrace.ContextClientTrace(ctx)
	for {
		resp, err := http.ReadResponse(c.br, req)
		if err != nil {
			return nil, err
		}
		code := resp.StatusCode
		if code < 100 || code > 199 || code == http.StatusSwitchingProtocols {
			return resp, nil
		}
		if trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
				return nil, err
			}
			c.limitHeaders()
		}
	}
}

// headerError names why the response headers could not be read.
func (t *Transport) headerError(c *conn, err error) error {
	switch {
	case c.headerLimitHit():
		return fmt.Errorf("%w: more than %d bytes", ErrHeadersTooLarge, t.maxHeaderBytes)
	case t.headerTimeout > 0 && errors.Is(err, os.ErrDeadlineExceeded):
		return ErrResponseHeaderTimeout
	}
	return err
}

// finish ends an exchange whose response was read: c goes back to the pool
// when keep is set, the context's interrupt had not fired and nothing follows
// the response unasked; otherwise it is closed.
func (t *Transport) finish(c *conn, stop func() bool, keep bool) {
	if stop() && keep && !c.sawEOF && c.br.Buffered() == 0 {
		t.putIdle(c)
		return
	}
	c.close()
}

// shouldRetry is net/http's Transport rule for sending a failed request again:
// only after a failure on a reused connection (a new one has no reason to
// fail but the request); when nothing was written, if the body can be sent
// again; otherwise only a replayable request, and only when the server closed
// the connection before the first byte of the response.
func shouldRetry(c *conn, req *http.Request, err error) bool {
	if !c.reused {
		return false
	}
	var nw nothingWrittenError
	if errors.As(err, &nw) {
		return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	}
	if !replayable(req) {
		return false
	}
	var rs readFromServerError
	return errors.As(err, &rs)
}

// replayable reports whether req may be sent twice: an idempotent method or
// an Idempotency-Key, and a body that can be had again.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, k1 := req.Header["Idempotency-Key"]
	_, k2 := req.Header["X-Idempotency-Key"]
	return k1 || k2
}

// rewindBody returns req with a fresh body from GetBody for a retry.
func rewindBody(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	b, err := req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("h1: rewinding the request body: %w", err)
	}
	r := *req
	r.Body = b
	return &r, nil
}

// closeBody closes the request body, which a round trip owns.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// isProtocolSwitch reports whether a 101 response's header switches protocols.
func isProtocolSwitch(h http.Header) bool {
	return h.Get("Upgrade") != "" && httpguts.HeaderValuesContainsToken(h["Connection"], "Upgrade")
}

// trackedBody keeps the error of a request body's Read.
type trackedBody struct {
	rc  io.ReadCloser
	err error
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func (b *trackedBody) Close() error { return b.rc.Close() }
