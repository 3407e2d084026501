package server

import (
	"bytes"
	"io"
	"net/http"

	"github.com/jwtgate/jwtgate/pkg/h1"
)

// maxPrereadBody is the largest request body the proxy reads whole before
// forwarding it. Chat requests are mostly smaller; larger ones, and bodies of
// unknown length, stream through as they arrive. It is pkg/h1's limit on the
// bodies it writes itself, so that a body read whole here is one h1 carries
// (a larger one goes to its fallback, which writes while it reads).
const maxPrereadBody = h1.DefaultMaxInlineBody

// prereadBody reads the request body into memory when its length is known and
// at most maxPrereadBody, replaces r.Body with it and returns it; rewrite gives
// the outbound request the same bytes as the kind of reader net/http's
// transport recognises as in memory (ReverseProxy wraps the body it clones in
// a reader of its own, which the transport does not recognise). The transport
// writes such a body with the headers, in one system call; any other body it
// writes after flushing the headers on their own (so that a server may answer
// a long upload early): a second write per request, and a second read for the
// upstream. A body the client cuts short or garbles fails here: the error
// wraps a [*clientBodyError] for handleError, as when the transport reads it.
// For any other body it returns nil and leaves r alone.
func prereadBody(r *http.Request) ([]byte, error) {
	n := r.ContentLength
	if n <= 0 || n > maxPrereadBody || r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if buf := heldBody(r.Body, n); buf != nil {
		// Read whole by the limits step already: forwarded as it is.
		_ = r.Body.Close()
		r.Body = inMemoryBody(buf)
		return buf, nil
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r.Body, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // Content-Length promised more
		}
		if _, marked := err.(*clientBodyError); !marked {
			err = &clientBodyError{err: err}
		}
		return nil, err
	}
	// The transport closes the body it is given, never r.Body: close the
	// client's here. net/http's server body is at its end and closes at once.
	_ = r.Body.Close()
	r.Body = inMemoryBody(buf)
	return buf, nil
}

// inMemoryBody is b as a request body the transport writes with the headers.
func inMemoryBody(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }

// heldBody returns the bytes of body when it is a body the limits step holds in
// memory as one part (nothing spliced in), unread, of n bytes: a copy of it
// would be a second buffer of the same bytes. Otherwise it returns nil.
func heldBody(body io.ReadCloser, n int64) []byte {
	if cb, ok := body.(*clientBody); ok {
		body = cb.rc
	}
	mb, ok := body.(*memBody)
	if !ok || mb.i != 0 || len(mb.parts[1])+len(mb.parts[2]) != 0 || int64(len(mb.parts[0])) != n {
		return nil
	}
	return mb.parts[0]
}
