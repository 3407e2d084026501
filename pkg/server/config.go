package server

import (
	"net/url"
	"time"

	"github.com/jwtgate/jwtgate/pkg/token"
)

// Config is what the server needs from configuration, as plain values.
type Config struct {
	// MaxBodyBytes bounds /sessions request bodies (413 past it).
	MaxBodyBytes int64
	// AllowedAPIKeys, when non-empty, is the allowlist: plain keys or "sha256:<hex>".
	AllowedAPIKeys []string
	// SessionsPerMinute rate-limits POST /sessions per client address (0: off).
	SessionsPerMinute int
	// Burst is the rate limiter's burst: how many sessions a client may open at
	// once before the per-minute rate applies (at least 1).
	Burst int
	// RefreshesPerMinute rate-limits POST /sessions/refresh per session (0: off):
	// a minute's worth at once, then one every 60/RefreshesPerMinute seconds.
	RefreshesPerMinute int
	// TrustedProxies are the addresses or CIDR ranges of the proxies in front of
	// the server. Only a request whose peer is one of them has its
	// X-Forwarded-For believed when finding the client address (which the rate
	// limit is keyed by); empty (the default) trusts no one, and the peer
	// address is the client.
	TrustedProxies []string
	// PublicMetrics serves GET /metrics on the handler [New] returns. False (the
	// zero value) leaves it out: /metrics is then 404 there, and the binary
	// serves the registry on a listener of its own or not at all.
	PublicMetrics bool
	// JWKSMaxAge is the Cache-Control max-age of /.well-known/jwks.json (zero:
	// max-age=0, clients revalidate every time).
	JWKSMaxAge time.Duration
	// Chat configures the /chat routes.
	Chat ChatConfig
	// CORS configures cross-origin access for browser and webview UIs.
	CORS CORSConfig
	// Limits are the session limits POST /sessions applies.
	Limits LimitsConfig
	// DPoP configures sender-constrained sessions (dpop.go).
	DPoP DPoPConfig
}

// CORSConfig configures cross-origin access (DESIGN.md, "Browser and IDE
// clients"). Entries follow pkg/crossorigin, as cors.* configuration does.
type CORSConfig struct {
	// AllowedOrigins are the origins that may call jwtgate from a browser:
	// exact origins, host wildcards and scheme wildcards. Empty (the zero
	// value): jwtgate sends no CORS headers at all and answers no preflight.
	AllowedOrigins []string
	// AllowedHeaders are request headers allowed besides the built-in ones; a
	// trailing "*" makes a prefix.
	AllowedHeaders []string
	// MaxAge is how long a browser may cache a preflight answer, in whole
	// seconds; zero (or less than a second) sends 0, do not cache.
	MaxAge time.Duration
}

// LimitsConfig holds the configured session limits (docs/DESIGN.md, "Session limits").
// Per member, a new session gets what it asks for, else Default, else Max, else no
// limit; asking beyond Max is refused. Default must lie within Max. The zero
// value limits nothing.
type LimitsConfig struct {
	// Default applies where a session asks for nothing.
	Default token.Limits
	// Max is the ceiling of what a session may ask for.
	Max token.Limits
	// MaxSessionAge is jwt.max_session_age: a session's counters are kept
	// until its start plus this, so that total_tokens holds across refreshes.
	// Zero: token.DefaultMaxSessionAge.
	MaxSessionAge time.Duration
	// MetricsModels are limits.metrics_models, the model names the tokens
	// metric counts by name; the others count as "other". Empty: none.
	MetricsModels []string
}

// ChatConfig configures the /chat routes.
type ChatConfig struct {
	// UpstreamURL is the chat backend; nil selects the built-in echo backend.
	UpstreamURL *url.URL
	// AuthHeader is the upstream request header that carries the API key.
	AuthHeader string
	// AuthScheme prefixes the key in AuthHeader ("Bearer"); empty sends the bare key.
	AuthScheme string
	// EchoDelay is the pause between the words of a streamed echo reply.
	EchoDelay time.Duration
	// ConnectTimeout bounds dialling the upstream.
	ConnectTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for upstream response headers (504 past it).
	ResponseHeaderTimeout time.Duration
	// IdleTimeout ends a chat response, proxied or echoed, on which nothing
	// moves for this long: an upstream that sends nothing, or a client that
	// takes longer than this to accept a write (it stopped reading). Zero: no
	// limit.
	IdleTimeout time.Duration
	// MaxStreamDuration is the longest one chat response, proxied or echoed, may
	// stream (cut off past it). Zero: no limit.
	MaxStreamDuration time.Duration
	// MaxBodyBytes bounds forwarded request bodies (413 past it).
	MaxBodyBytes int64
	// AllowedPaths, when non-empty, are the upstream path prefixes that may be reached.
	AllowedPaths []string
	// AllowSetCookie passes upstream Set-Cookie headers through (default: dropped).
	AllowSetCookie bool
	// AllowedMethods are the request methods forwarded upstream; any other gets
	// 405 with Allow. Empty means [DefaultAllowedMethods]. TRACE and CONNECT are
	// never forwarded, even when listed.
	AllowedMethods []string
}
