package ginauth

import "github.com/gin-gonic/gin"

// DefaultRealm is the realm named in WWW-Authenticate challenges unless [WithRealm]
// sets another.
const DefaultRealm = "jwtgate"

// Option configures [New].
type Option func(*options)

type options struct {
	realm   string
	onError func(c *gin.Context, err error)
}

func defaultOptions() options {
	return options{realm: DefaultRealm}
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
// of the token.ErrToken sentinels; token.Reason gives a label for it). err never
// contains the token. The default is no hook; nil removes a hook set earlier.
func WithErrorHook(hook func(c *gin.Context, err error)) Option {
	return func(o *options) { o.onError = hook }
}
