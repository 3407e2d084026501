package h1

import (
	"fmt"
	"net/http"

	"golang.org/x/net/http/httpguts"
)

// checkRequest refuses, before a connection is taken, what net/http's
// Transport refuses before writing: invalid header and trailer field names
// and values (CR, LF, NUL in a value would split the request), an invalid
// method and a URL without a host. The Host header's own validity and control
// characters in the URL are checked by [http.Request.Write], which fails
// before anything reaches the connection.
func checkRequest(req *http.Request) error {
	if name, bad := invalidField(req.Header); bad != "" {
		return fmt.Errorf("%w %s for %q", ErrInvalidHeader, bad, name)
	}
	if name, bad := invalidField(req.Trailer); bad != "" {
		return fmt.Errorf("%w %s for %q", ErrInvalidTrailer, bad, name)
	}
	if req.Method != "" && !validMethod(req.Method) {
		return fmt.Errorf("%w %q", ErrInvalidMethod, req.Method)
	}
	if req.URL.Host == "" {
		return ErrMissingHost
	}
	return nil
}

// invalidField returns the first field of h whose name or value is invalid,
// and which it is. The value is never quoted: it may be a secret.
func invalidField(h http.Header) (name, bad string) {
	for k, vv := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return k, "field name"
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return k, "field value"
			}
		}
	}
	return "", ""
}

// validMethod reports whether m is a token (RFC 9110, section 9.1).
func validMethod(m string) bool {
	for i := 0; i < len(m); i++ {
		if !httpguts.IsTokenRune(rune(m[i])) {
			return false
		}
	}
	return len(m) > 0
}
