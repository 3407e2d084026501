package dpop

import "time"

// Defaults and limits used when no option overrides them.
const (
	// DefaultMaxAge is how long after its iat a proof is accepted (dpop.max_age).
	DefaultMaxAge = 60 * time.Second
	// DefaultLeeway is the clock skew allowed on iat, in both directions; the same
	// default as jwt.leeway.
	DefaultLeeway = 30 * time.Second
	// MaxProofSize is the largest proof, in bytes, that [Verifier.Verify] looks at;
	// anything larger is refused before any decoding. An RS256 proof with a
	// 4096-bit key and a long htu stays well under it.
	MaxProofSize = 8 << 10
	// MaxJTILen is the longest jti accepted, in bytes. Clients send 16 to 32 random
	// bytes in base64url or a UUID; the replay cache stores a fixed-size hash anyway.
	MaxJTILen = 256
	// Algorithms lists the accepted proof algorithms, space-separated, as the algs
	// parameter of a DPoP WWW-Authenticate challenge wants them (RFC 9449 section 7.1).
	// Ed25519 (RFC 9864's name for EdDSA over Ed25519) is accepted too.
	Algorithms = "ES256 EdDSA RS256"
)

// Option configures a [Verifier].
type Option func(*options)

type options struct {
	now    func() time.Time
	maxAge time.Duration
	leeway time.Duration
	replay *ReplayCache
	nonces *NonceSource
}

func defaultOptions() options {
	return options{now: time.Now, maxAge: DefaultMaxAge, leeway: DefaultLeeway}
}

// WithClock replaces time.Now; tests use it to age proofs, nonces and replay
// entries without sleeping. [Request.Now], when set, wins over it.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithMaxAge sets how long after its iat a proof is accepted (default
// [DefaultMaxAge]); it must be positive.
func WithMaxAge(d time.Duration) Option {
	return func(o *options) { o.maxAge = d }
}

// WithLeeway sets the clock skew allowed on iat in both directions: a proof is
// accepted from leeway before its iat until max age plus leeway after it (default
// [DefaultLeeway]); it must not be negative.
func WithLeeway(d time.Duration) Option {
	return func(o *options) { o.leeway = d }
}

// WithReplayCache makes the verifier remember jti values in c (default: a cache of
// its own holding [DefaultReplayCacheSize] entries). Pass the same cache to the
// verifier built on a configuration reload, so that proofs seen before the reload
// are still refused after it.
func WithReplayCache(c *ReplayCache) Option {
	return func(o *options) { o.replay = c }
}

// WithNonces requires every proof to carry a nonce from ns, of the current or the
// previous window (default nil: no nonce is required and a proof's nonce claim is
// not looked at). A proof without one is refused with [ErrProofNonce].
func WithNonces(ns *NonceSource) Option {
	return func(o *options) { o.nonces = ns }
}
