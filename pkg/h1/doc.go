// Package h1 is an HTTP/1.1 client transport for plain-http upstreams that
// runs each request on its caller's goroutine: no per-connection read and
// write loops, a 4 KiB reader per connection and a writer lent from a pool
// only while a request is written.
//
// It does not parse or serialise HTTP itself: requests are written with
// [net/http.Request.Write] and responses read with [net/http.ReadResponse],
// the code net/http's own Transport uses, and it keeps that Transport's rules
// around them: what is refused before a byte is written, the limit on
// response header bytes, 1xx responses, when a connection is kept and when a
// request is retried. What it does not do itself (TLS, HTTP/2, protocol
// upgrades, Expect: 100-continue, request bodies that are large or of unknown
// length) goes to a fallback [net/http.RoundTripper].
package h1
