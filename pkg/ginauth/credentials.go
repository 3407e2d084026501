package ginauth

import (
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Sec-WebSocket-Protocol entries that carry a session token on a WebSocket
// upgrade, read when [WithWebSocketProtocol] is set. A browser cannot set headers
// on a WebSocket, so a browser UI offers its token as a subprotocol; the server
// never picks such an entry, and a proxy must remove it before forwarding (see
// [IsCredentialProtocol]).
const (
	// ProtocolBearerPrefix starts the entry "jwtgate.bearer.<jwt>".
	ProtocolBearerPrefix = "jwtgate.bearer."
	// ProtocolOpenAIKeyPrefix starts the entry "openai-insecure-api-key.<jwt>", in
	// which OpenAI's browser SDKs send what they take for an API key: given a
	// session token as their key, they work unchanged.
	ProtocolOpenAIKeyPrefix = "openai-insecure-api-key."
)

// protocolNamespace holds jwtgate's own subprotocol entries (the bearer token,
// a DPoP proof); every entry in it is for jwtgate alone.
const protocolNamespace = "jwtgate."

// source is one place a session token may come from.
type source uint8

const (
	// sourceAuthorization is "Authorization: Bearer <jwt>", always read.
	sourceAuthorization source = 1 << iota
	// sourceAPIKey is "X-API-Key: <jwt>" ([WithXAPIKey]).
	sourceAPIKey
	// sourceProtocol is a Sec-WebSocket-Protocol entry of a WebSocket upgrade
	// ([WithWebSocketProtocol]).
	sourceProtocol
	// sourceDPoP is not a place a token comes from but the DPoP presentation
	// ([WithDPoP]): "Authorization: DPoP <jwt>", a DPoP header or a
	// "jwtgate.dpop." entry with the proof.
	sourceDPoP
)

// credentials is what one request offers to authenticate with, read once from
// every source the middleware reads, so that the rules about them (one credential
// per request, its shape) are checked in one place. A DPoP proof, from the DPoP
// header or a "jwtgate.dpop." entry, is read beside the token it binds (see
// readProof).
type credentials struct {
	token string // a token68, not yet verified
	from  source
	// dpop reports the DPoP presentation: "Authorization: DPoP", or a
	// "jwtgate.bearer." entry beside a "jwtgate.dpop." one. Only a bound token
	// is accepted so, and a bound token only so.
	dpop bool
	// proof is the DPoP proof offered, "" for none; looked at only when dpop.
	proof string
	// bearerEntry reports that a subprotocol token came in a "jwtgate.bearer."
	// entry (not "openai-insecure-api-key.").
	bearerEntry bool
}

// readCredentials returns the single credential r carries in the sources the
// middleware reads. Every credential present counts, well formed or not, and the
// same value twice counts twice: a request that offers more than one is refused
// rather than having one of them chosen for it. Refusal descriptions never quote
// what the client sent.
func readCredentials(r *http.Request, sources source) (credentials, *Refusal) {
	h := r.Header
	var (
		cr credentials
		n  int
		// protocols are the offered subprotocols of an upgrade, parsed once for
		// the token and the DPoP proof; nil when the source is not read.
		protocols []string
	)
	switch auth := h["Authorization"]; {
	case len(auth) > 1:
		return credentials{}, badRequest("more than one Authorization header")
	case len(auth) == 1 && auth[0] != "":
		// Any scheme counts: a request with "Authorization: Basic ..." and an
		// X-API-Key token is ambiguous too. (An empty header carries no
		// authentication information at all, like a missing one.)
		cr, n = credentials{token: auth[0], from: sourceAuthorization}, n+1
	}
	if sources&sourceAPIKey != 0 {
		switch keys := h["X-Api-Key"]; {
		case len(keys) > 1:
			return credentials{}, badRequest("more than one X-API-Key header")
		case len(keys) == 1 && keys[0] != "":
			cr, n = credentials{token: keys[0], from: sourceAPIKey}, n+1
		}
	}
	if sources&sourceProtocol != 0 && IsWebSocketUpgrade(r) {
		var ok bool
		if protocols, ok = Subprotocols(h); !ok {
			return credentials{}, badRequest("the Sec-WebSocket-Protocol header must be a comma-separated list of tokens")
		}
		tok, found, bearer, ref := protocolToken(protocols)
		if ref != nil {
			return credentials{}, ref
		}
		if found {
			cr, n = credentials{token: tok, from: sourceProtocol, bearerEntry: bearer}, n+1
		}
	}
	switch {
	case n == 0:
		return credentials{}, noToken()
	case n > 1:
		return credentials{}, badRequest("the request carries credentials in more than one place; send the token in exactly one")
	}
	switch cr.from {
	case sourceAuthorization:
		tok, isDPoP, ref := authorizationToken(cr.token, sources&sourceDPoP != 0)
		if ref != nil {
			return credentials{}, ref
		}
		cr.token, cr.dpop = tok, isDPoP
	case sourceAPIKey:
		if !isToken68(cr.token) {
			return credentials{}, badRequest("the X-API-Key token must be a single token68 value")
		}
	case sourceProtocol:
		if cr.token == "" {
			return credentials{}, badRequest("the Sec-WebSocket-Protocol token is missing")
		}
		if !isToken68(cr.token) {
			return credentials{}, badRequest("the Sec-WebSocket-Protocol token must be a single token68 value")
		}
	}
	if sources&sourceDPoP != 0 {
		if ref := readProof(h, protocols, &cr); ref != nil {
			return credentials{}, ref
		}
	}
	return cr, nil
}

// protocolToken returns the token of the one token-bearing entry among the
// offered subprotocols entries, found reporting whether there is one and bearer
// whether it is a "jwtgate.bearer." entry.
func protocolToken(entries []string) (tok string, found, bearer bool, ref *Refusal) {
	for _, e := range entries {
		v, isBearer, ok := protocolValue(e)
		if !ok {
			continue
		}
		if found {
			return "", false, false, badRequest("more than one token in Sec-WebSocket-Protocol")
		}
		tok, found, bearer = v, true, isBearer
	}
	return tok, found, bearer, nil
}

// protocolValue returns what follows a token-bearing prefix in entry, bearer
// reporting whether the prefix is [ProtocolBearerPrefix]. Prefixes match without
// regard to case, so that no spelling of one reaches an upstream as an ordinary
// subprotocol.
func protocolValue(entry string) (v string, bearer, ok bool) {
	if hasPrefixFold(entry, ProtocolBearerPrefix) {
		return entry[len(ProtocolBearerPrefix):], true, true
	}
	if hasPrefixFold(entry, ProtocolOpenAIKeyPrefix) {
		return entry[len(ProtocolOpenAIKeyPrefix):], false, true
	}
	return "", false, false
}

// IsCredentialProtocol reports whether entry, one offered WebSocket subprotocol,
// is meant for jwtgate rather than for the application behind it: a token-bearing
// entry ([ProtocolBearerPrefix], [ProtocolOpenAIKeyPrefix]) or any other entry in
// jwtgate's "jwtgate." namespace, matched without regard to case. A proxy drops
// these before forwarding and never lets a server select one.
func IsCredentialProtocol(entry string) bool {
	return hasPrefixFold(entry, protocolNamespace) || hasPrefixFold(entry, ProtocolOpenAIKeyPrefix)
}

// Subprotocols returns the entries of h's Sec-WebSocket-Protocol headers in the
// order offered. The header may be repeated and each value is a comma-separated
// list (RFC 6455 section 4.1, RFC 9110 section 5.6.1): whitespace around an entry
// and empty list elements are ignored. ok is false when an entry is not a token,
// which RFC 6455 section 4.1 requires it to be; entries is nil then.
func Subprotocols(h http.Header) (entries []string, ok bool) {
	for _, v := range h["Sec-Websocket-Protocol"] {
		for e := range strings.SplitSeq(v, ",") {
			e = strings.Trim(e, " \t")
			if e == "" {
				continue
			}
			if !httpguts.ValidHeaderFieldName(e) { // a header name is exactly a token
				return nil, false
			}
			entries = append(entries, e)
		}
	}
	return entries, true
}

// IsWebSocketUpgrade reports whether r asks for a WebSocket: a GET with
// "websocket" among its Upgrade tokens and "upgrade" among its Connection tokens
// (RFC 6455 section 4.1). It says nothing of whether the rest of the handshake is
// valid.
func IsWebSocketUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		httpguts.HeaderValuesContainsToken(r.Header["Connection"], "upgrade") &&
		httpguts.HeaderValuesContainsToken(r.Header["Upgrade"], "websocket")
}

// hasPrefixFold is strings.HasPrefix without regard to ASCII case; prefix is
// lower case. (strings.EqualFold folds Unicode too, which no token needs.)
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}
