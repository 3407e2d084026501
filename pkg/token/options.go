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

// IssuerOption configures [NewIssuer]. Options that only a [Verifier] reads are
// of another type ([VerifierOption]), so passing one to NewIssuer does not compile.
type IssuerOption interface {
	applyIssuer(*issuerOptions)
}

// VerifierOption configures [NewVerifier]. Options that only an [Issuer] reads are
// of another type ([IssuerOption]), so passing one to NewVerifier does not compile.
type VerifierOption interface {
	applyVerifier(*verifierOptions)
}

// Option is an option both [NewIssuer] and [NewVerifier] read: [WithClock] and
// [WithMaxTTL]. Give it to both, so the two agree.
type Option interface {
	IssuerOption
	VerifierOption
}

type issuerOptions struct {
	now           func() time.Time
	ttl           time.Duration
	maxTTL        time.Duration
	maxSessionAge time.Duration
	plain         bool
}

func defaultIssuerOptions() issuerOptions {
	return issuerOptions{
		now:           time.Now,
		ttl:           DefaultTTL,
		maxTTL:        DefaultMaxTTL,
		maxSessionAge: DefaultMaxSessionAge,
	}
}

type verifierOptions struct {
	now       func() time.Time
	maxTTL    time.Duration
	leeway    time.Duration
	notBefore time.Time
	cacheSize int
}

func defaultVerifierOptions() verifierOptions {
	return verifierOptions{
		now:    time.Now,
		maxTTL: DefaultMaxTTL,
		leeway: DefaultLeeway,
	}
}

// issuerOption is an [IssuerOption] that only the issuer reads.
type issuerOption func(*issuerOptions)

func (f issuerOption) applyIssuer(o *issuerOptions) { f(o) }

// verifierOption is a [VerifierOption] that only the verifier reads.
type verifierOption func(*verifierOptions)

func (f verifierOption) applyVerifier(o *verifierOptions) { f(o) }

// clockOption is [WithClock]: read by both.
type clockOption func() time.Time

func (c clockOption) applyIssuer(o *issuerOptions)     { o.now = c }
func (c clockOption) applyVerifier(o *verifierOptions) { o.now = c }

// maxTTLOption is [WithMaxTTL]: read by both.
type maxTTLOption time.Duration

func (d maxTTLOption) applyIssuer(o *issuerOptions)     { o.maxTTL = time.Duration(d) }
func (d maxTTLOption) applyVerifier(o *verifierOptions) { o.maxTTL = time.Duration(d) }

// WithClock replaces time.Now for issuing and verifying; tests use it to expire
// tokens without sleeping.
func WithClock(now func() time.Time) Option { return clockOption(now) }

// WithMaxTTL is the longest lifetime a token may have (default [DefaultMaxTTL]).
// The issuer caps the lifetime a caller asks for at d; the verifier refuses a token
// whose exp lies more than d, plus the leeway, after its iat, with
// [ErrTokenLifetime]. The issuer never makes such a token, so only someone holding
// a signing key can: give both the same d.
func WithMaxTTL(d time.Duration) Option { return maxTTLOption(d) }

// WithTTL sets the lifetime of new tokens when the caller asks for none (default
// [DefaultTTL]).
func WithTTL(d time.Duration) IssuerOption {
	return issuerOption(func(o *issuerOptions) { o.ttl = d })
}

// WithMaxSessionAge bounds how long after its first token a session may still be
// refreshed; refreshed tokens never outlive it (default [DefaultMaxSessionAge]).
func WithMaxSessionAge(d time.Duration) IssuerOption {
	return issuerOption(func(o *issuerOptions) { o.maxSessionAge = d })
}

// WithPlainAPIKey embeds the API key in clear (claim "ak") instead of sealing it
// (claim "aks"). Anyone holding such a token can read the key out of it (default
// false: sealed).
func WithPlainAPIKey(plain bool) IssuerOption {
	return issuerOption(func(o *issuerOptions) { o.plain = plain })
}

// WithLeeway sets the clock skew allowed on exp, nbf and iat, and on top of the
// maximum lifetime (default [DefaultLeeway]). The not-before instant of
// [WithNotBefore] gets no leeway.
func WithLeeway(d time.Duration) VerifierOption {
	return verifierOption(func(o *verifierOptions) { o.leeway = d })
}

// WithNotBefore refuses every token issued (by iat) before t, with no leeway:
// stateless revocation of everything issued up to an incident (default the zero
// time: off).
func WithNotBefore(t time.Time) VerifierOption {
	return verifierOption(func(o *verifierOptions) { o.notBefore = t })
}
