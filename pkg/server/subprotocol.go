package server

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/jwtgate/jwtgate/pkg/ginauth"
)

// protocolHeader is Sec-WebSocket-Protocol in canonical form.
const protocolHeader = "Sec-Websocket-Protocol"

// forwardedProtocols returns the subprotocols offered in h that the upstream may
// see: every entry but those meant for jwtgate (the session token, see
// [ginauth.IsCredentialProtocol]), in the order offered. offered is false when the
// request offers no subprotocol at all. An entry that is not a token (RFC 6455
// section 4.1) makes the request malformed: the answer is 400 and nothing is
// forwarded, so no entry can slip past the check by not parsing.
func forwardedProtocols(h http.Header) (kept []string, offered bool, e *apiError) {
	if len(h[protocolHeader]) == 0 {
		return nil, false, nil
	}
	entries, ok := ginauth.Subprotocols(h)
	if !ok {
		return nil, true, invalidRequest("the Sec-WebSocket-Protocol header must be a comma-separated list of tokens")
	}
	kept = slices.DeleteFunc(entries, ginauth.IsCredentialProtocol)
	return kept, true, nil
}

// setProtocols replaces the upstream request's Sec-WebSocket-Protocol with kept,
// or removes it when nothing is left to offer.
func setProtocols(h http.Header, kept []string) {
	if len(kept) == 0 {
		h.Del(protocolHeader)
		return
	}
	h[protocolHeader] = []string{strings.Join(kept, ", ")}
}

// checkSelectedProtocol checks the subprotocol an upstream's 101 selects: none, or
// exactly one of the entries it was offered (a client fails the connection
// otherwise, RFC 6455 section 4.1), and never one meant for jwtgate, which the
// client would read as its token being accepted by the application. The
// upstream never saw such an entry, so a choice of one is a broken or hostile
// upstream.
func checkSelectedProtocol(h http.Header, offered []string) error {
	values := h[protocolHeader]
	switch {
	case len(values) == 0:
		return nil
	case len(values) > 1:
		return fmt.Errorf("%w: more than one Sec-WebSocket-Protocol", errBadUpgrade)
	}
	selected := strings.Trim(values[0], " \t")
	switch {
	case ginauth.IsCredentialProtocol(selected):
		return fmt.Errorf("%w: the selected subprotocol is one of jwtgate's", errBadUpgrade)
	case !slices.Contains(offered, selected):
		return fmt.Errorf("%w: the selected subprotocol was not offered", errBadUpgrade)
	}
	return nil
}
