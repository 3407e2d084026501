package ginauth

import "github.com/gin-gonic/gin"

// DefaultRealm is the realm named in WWW-Authenticate challenges unless [WithRealm]
// sets another.
const DefaultRealm = "jwtgate"

// Option configures [New] and [NewMiddleware].
type Option func(*options)

type options struct {
	realm   string
	onError func(c *gin.Context, err error)
	write   ErrorWriter
}

func defaultOptions() options {
	return options{realm: DefaultRealm, write: writeDefault}
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
