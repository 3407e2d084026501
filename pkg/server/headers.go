package server

import (
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// forwardedPrefix starts the X-Forwarded-* headers, which jwtgate writes itself
// (ReverseProxy's SetXForwarded) and never takes from the client.
const forwardedPrefix = "X-Forwarded-"

// managedRequestHeaders returns the request headers jwtgate sets, replaces or
// drops before forwarding (besides the X-Forwarded-* family): its own
// credentials (the session token, the key header of /sessions, cookies, DPoP
// proofs, WebSocket credential subprotocols), the upstream's key header
// authHeader, the forwarding and request-id headers it writes, and the
// hop-by-hop headers ReverseProxy removes. A client's spelling of one of them
// with "_" for "-" is dropped too: CGI and WSGI servers read X_Api_Key and
// X-Api-Key alike (both become HTTP_X_API_KEY), so the variant would reach the
// upstream as the real header or merge into the value jwtgate set.
func managedRequestHeaders(authHeader string) []string {
	return []string{
		"Authorization", "X-Api-Key", "Cookie", "Dpop", "Sec-Websocket-Protocol",
		authHeader, "Forwarded", RequestIDHeader,
		"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authorization",
		"Proxy-Authenticate", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
	}
}

// dropManagedVariants deletes from h every header that, with "_" read as "-"
// and case ignored, is a managed header (p.managed, or X-Forwarded-*) spelled
// with an underscore. It runs before the rewrite sets its own headers; the
// exact names are the rewrite's to set or delete. A request without an
// underscore in any header name costs one scan of the names and no allocation;
// so does one with. (When the configured key header has an underscore itself,
// its dashed spelling is a variant too.)
func (p *chatProxy) dropManagedVariants(h http.Header) {
	for k := range h {
		switch {
		case strings.IndexByte(k, '_') >= 0:
			if p.isManagedHeader(k) {
				delete(h, k)
			}
		case p.underscoreAuth && sameHeaderName(k, p.authHeader):
			delete(h, k)
		}
	}
}

// dropManagedTrailers deletes from a request's trailer every managed header,
// spelled exactly or with underscores: a trailer is merged into the headers by
// some upstreams.
func (p *chatProxy) dropManagedTrailers(t http.Header) {
	for k := range t {
		if p.isManagedHeader(k) {
			delete(t, k)
		}
	}
}

// isManagedHeader reports whether name, with "_" read as "-" and case
// ignored, is one of p.managed or starts with X-Forwarded-.
func (p *chatProxy) isManagedHeader(name string) bool {
	if len(name) >= len(forwardedPrefix) && sameHeaderName(name[:len(forwardedPrefix)], forwardedPrefix) {
		return true
	}
	for _, m := range p.managed {
		if sameHeaderName(name, m) {
			return true
		}
	}
	return false
}

// sameHeaderName reports whether a and b are the same header name when case is
// ignored and "_" is read as "-", without building either form.
func sameHeaderName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if foldHeaderByte(a[i]) != foldHeaderByte(b[i]) {
			return false
		}
	}
	return true
}

func foldHeaderByte(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + ('a' - 'A')
	case c == '_':
		return '-'
	}
	return c
}

// validTrailerNames reports whether every name a request announces in its
// Trailer header is a valid header field name. net/http's server accepts any
// text there, and the transport refuses to send the request on: without this
// check a client's typo would be answered, and counted, as an unreachable
// upstream.
func validTrailerNames(t http.Header) bool {
	for k := range t {
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
	}
	return true
}

// scrubResponseHeader deletes from h, the upstream's response headers or its
// trailers, what jwtgate does not pass on: the upstream's X-Request-Id
// (jwtgate's is the one the client gets) and DPoP-Nonce, its Access-Control-* headers
// (jwtgate's CORS policy is the only one; the upstream's would add second
// values, or open jwtgate's origin to whatever the upstream allows) and, unless
// chat.allow_set_cookie, its cookies (the response is served from jwtgate's
// origin, beside the UI that holds the session token). The same rule holds for
// trailers, which a client that reads them (fetch does not; other HTTP
// libraries do) could treat as headers.
func (p *chatProxy) scrubResponseHeader(h http.Header) {
	if len(h) == 0 {
		return
	}
	delete(h, RequestIDHeader)
	// The client's DPoP nonce is jwtgate's (its proofs are checked here, never
	// upstream); an upstream's would be taken for it.
	delete(h, "Dpop-Nonce")
	for k := range h {
		if len(k) >= len(corsHeaderPrefix) && strings.EqualFold(k[:len(corsHeaderPrefix)], corsHeaderPrefix) {
			delete(h, k)
		}
	}
	if !p.allowSetCookie {
		delete(h, "Set-Cookie")
		delete(h, "Set-Cookie2")
	}
}
