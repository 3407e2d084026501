package server

import (
	"errors"
	"io"
	"sync/atomic"
)

// clientBody is the client's request body as the transport reads it to forward
// it. Its read errors (a malformed chunked encoding, a body cut short, a body
// over chat.max_body_bytes) are the client's fault, yet the transport reports
// them like any failed round trip: clientBody marks them, as a
// [*clientBodyError] in the error chain and in failed, so that handleError
// answers them as the client's (400, or 413) and does not count the upstream
// as unreachable. failed covers a transport that reports the broken
// connection rather than the read error; the transport may read the body on a
// goroutine of its own, after the handler has returned.
type clientBody struct {
	rc     io.ReadCloser
	failed atomic.Bool
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		b.failed.Store(true)
		return n, &clientBodyError{err: err}
	}
	return n, err
}

func (b *clientBody) Close() error { return b.rc.Close() }

// clientBodyError is an error reading the client's request body.
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string { return "reading the request body: " + e.err.Error() }

func (e *clientBodyError) Unwrap() error { return e.err }

// describeClientBodyError says what was wrong with the client's body in words
// that cannot carry its content.
func describeClientBodyError(err error) string {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "body cut short"
	case isDeadline(err):
		return "timeout reading the body"
	}
	var timeout interface{ Timeout() bool }
	if errors.As(err, &timeout) && timeout.Timeout() {
		return "timeout reading the body"
	}
	return "malformed body"
}
