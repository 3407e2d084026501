package ginauth

import (
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"
)

// DefaultRealm is the realm named in WWW-Authenticate challenges unless [WithRealm]
// sets another.
const DefaultRealm = "jwtgate"

// Option configures [New] and [NewMiddleware].
type Option func(*options)

type options struct {
	realm      string
	onError    func(c *gin.Context, err error)
	write      ErrorWriter
	sources    source
	proofs     ProofVerifier
	requestURL func(*http.Request) *url.URL
}

func defaultOptions() options {
	return options{realm: DefaultRealm, write: writeDefault, sources: sourceAuthorization, requestURL: RequestURL}
}

// WithRealm sets the realm named in the WWW-Authenticate challenge (default
// [DefaultRealm]; empty keeps the default). Double quotes, backslashes and
// characters outside printable ASCII are dropped, so no realm can break the header.
func WithRealm(realm string) Option {
	return func(o *options) {
		if realm != "" {
			o.realm = realm
		}
	}
}

// WithErrorHook sets a function called once for every refused request, after the
// response has been written and the chain aborted, for metrics or logging. err wraps
// [ErrNoToken], [ErrBadRequest], or the verifier's error (for a *token.Verifier, one
// of the token.ErrToken sentinels); [Reason] gives a label for it. err never
// contains the token. The default is no hook; nil removes a hook set earlier.
// Refusals made with [Middleware.Refuse] reach the hook too.
func WithErrorHook(hook func(c *gin.Context, err error)) Option {
	return func(o *options) { o.onError = hook }
}

// WithErrorWriter sets how a refusal's body is written (default [WriteError], the
// RFC 6749 shape). An API that speaks another error dialect (jwtgate's /chat routes
// answer in the OpenAI error shape) passes its own; the challenge header is the
// middleware's either way. nil keeps the default.
func WithErrorWriter(w ErrorWriter) Option {
	return func(o *options) {
		if w != nil {
			o.write = w
		}
	}
}

// WithXAPIKey makes the middleware also take the session token from an
// "X-API-Key: <jwt>" header, where SDKs written for Anthropic-style APIs send what
// they take for an API key (given the session token as their key, they work
// unchanged). The value must be a single token68. The default reads only
// Authorization: leave this off on a route where X-API-Key carries something
// else (jwtgate's POST /sessions takes the real API key there). A request with
// both headers is refused with 400 invalid_request.
func WithXAPIKey() Option {
	return func(o *options) { o.sources |= sourceAPIKey }
}

// WithWebSocketProtocol makes the middleware also take the session token, on a
// WebSocket upgrade ([IsWebSocketUpgrade]), from an offered subprotocol entry
// "jwtgate.bearer.<jwt>" or "openai-insecure-api-key.<jwt>" ([ProtocolBearerPrefix],
// [ProtocolOpenAIKeyPrefix]): a browser cannot set headers on a WebSocket. The
// Sec-WebSocket-Protocol header may be repeated and comma-separated (RFC 6455);
// two token entries, or a token entry and another credential, are refused with 400
// invalid_request, and so is a header whose entries are not tokens. The entry
// stays in the request: whatever forwards it must drop it first
// ([IsCredentialProtocol]). The default reads only Authorization.
func WithWebSocketProtocol() Option {
	return func(o *options) { o.sources |= sourceProtocol }
}
