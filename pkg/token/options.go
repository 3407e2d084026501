package token

import "time"

// Defaults used when no option overrides them.
const (
	DefaultTTL           = 15 * time.Minute
	DefaultMaxTTL        = time.Hour
	DefaultMaxSessionAge = 24 * time.Hour
	DefaultLeeway        = 30 * time.Second
	// MaxTokenSize is the largest token, in bytes, that [Verifier.Verify] looks at;
	// anything larger is refused before any decoding work.
	MaxTokenSize = 8 << 10
	// MaxAPIKeyLen is the longest API key a token may carry.
	MaxAPIKeyLen = 512
	// MaxSubjectLen is the longest subject a token may carry.
	MaxSubjectLen = 256
)

// Option configures an [Issuer] or a [Verifier]. Each option says which of the two
// reads it; the other ignores it.
type Option func(*options)

type options struct {
	now           func() time.Time
	ttl           time.Duration
	maxTTL        time.Duration
	maxSessionAge time.Duration
	leeway        time.Duration
	plain         bool
	notBefore     time.Time
	cacheSize     int
}

func defaultOptions() options {
	return options{
		now:           time.Now,
		ttl:           DefaultTTL,
		maxTTL:        DefaultMaxTTL,
		maxSessionAge: DefaultMaxSessionAge,
		leeway:        DefaultLeeway,
	}
}

// WithClock replaces time.Now for both issuing and verifying; tests use it to expire
// tokens without sleeping.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithTTL sets the lifetime of new tokens when the caller asks for none (issuer;
// default [DefaultTTL]).
func WithTTL(d time.Duration) Option {
	return func(o *options) { o.ttl = d }
}

// WithMaxTTL caps the lifetime a caller may ask for (issuer; default [DefaultMaxTTL]).
func WithMaxTTL(d time.Duration) Option {
	return func(o *options) { o.maxTTL = d }
}

// WithMaxSessionAge bounds how long after its first token a session may still be
// refreshed; refreshed tokens never outlive it (issuer; default [DefaultMaxSessionAge]).
func WithMaxSessionAge(d time.Duration) Option {
	return func(o *options) { o.maxSessionAge = d }
}

// WithPlainAPIKey embeds the API key in clear (claim "ak") instead of sealing it
// (claim "aks"). Anyone holding such a token can read the key out of it (issuer;
// default false: sealed).
func WithPlainAPIKey(plain bool) Option {
	return func(o *options) { o.plain = plain }
}

// WithLeeway sets the clock skew allowed on exp, nbf and iat (verifier; default
// [DefaultLeeway]). The not-before instant of [WithNotBefore] gets no leeway.
func WithLeeway(d time.Duration) Option {
	return func(o *options) { o.leeway = d }
}

// WithNotBefore refuses every token issued (by iat) before t, with no leeway:
// stateless revocation of everything issued up to an incident (verifier; default
// the zero time: off).
func WithNotBefore(t time.Time) Option {
	return func(o *options) { o.notBefore = t }
}
