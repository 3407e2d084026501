//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package h1

// alive reports whether an idle connection can carry a request. Without a
// non-blocking peek here only bytes already buffered are seen; a connection
// the server closed fails the request, which is retried by the rules of
// [Transport.RoundTrip].
func (c *conn) alive() bool { return c.br.Buffered() == 0 }
