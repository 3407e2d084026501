package config

import (
	"log/slog"
	"net/url"
	"time"

	"github.com/jwtgate/jwtgate/pkg/dpop"
	"github.com/jwtgate/jwtgate/pkg/meter"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// Secret is a configuration value that must never be printed. Its String, GoString
// and LogValue methods mask it; use string(s) only where the bytes are needed.
type Secret string

// String returns "[redacted]" for a non-empty secret and "" otherwise.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString is String, so %#v masks the secret too.
func (s Secret) GoString() string { return s.String() }

// LogValue implements slog.LogValuer with the masked form.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Config is jwtgate's whole configuration. Field tags name the configuration keys.
type Config struct {
	Server    Server    `mapstructure:"server"`
	JWT       JWT       `mapstructure:"jwt"`
	APIKeys   APIKeys   `mapstructure:"api_keys"`
	Chat      Chat      `mapstructure:"chat"`
	CORS      CORS      `mapstructure:"cors"`
	DPoP      DPoP      `mapstructure:"dpop"`
	RateLimit RateLimit `mapstructure:"rate_limit"`
	Limits    Limits    `mapstructure:"limits"`
	Metrics   Metrics   `mapstructure:"metrics"`
	Log       Log       `mapstructure:"log"`
}

// Server configures the HTTP listener.
type Server struct {
	// Addr is server.addr, the listen address (default "127.0.0.1:8080").
	Addr string `mapstructure:"addr"`
	// ReadHeaderTimeout is server.read_header_timeout (default 5s); it cuts off
	// slow-header clients.
	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout"`
	// ReadTimeout is server.read_timeout, for the whole request (default 30s).
	ReadTimeout time.Duration `mapstructure:"read_timeout"`
	// IdleTimeout is server.idle_timeout for keep-alive connections (default 120s).
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// ShutdownTimeout is server.shutdown_timeout, how long in-flight requests may
	// finish after SIGTERM (default 15s).
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	// MaxHeaderBytes is server.max_header_bytes (default 16384).
	MaxHeaderBytes int `mapstructure:"max_header_bytes"`
	// MaxBodyBytes is server.max_body_bytes, the largest /sessions request body
	// (default 65536); larger bodies get 413.
	MaxBodyBytes int64 `mapstructure:"max_body_bytes"`
	// TrustedProxies is server.trusted_proxies: addresses or CIDR ranges of proxies
	// whose X-Forwarded-For is believed when finding the client address (default
	// none: the peer address is the client).
	TrustedProxies []string `mapstructure:"trusted_proxies"`
	// TLSCertFile is server.tls_cert_file, a PEM certificate chain; with
	// TLSKeyFile it makes the server speak HTTPS (TLS 1.2 and up). Reloaded on SIGHUP.
	TLSCertFile string `mapstructure:"tls_cert_file"`
	// TLSKeyFile is server.tls_key_file, the PEM private key of TLSCertFile.
	TLSKeyFile string `mapstructure:"tls_key_file"`
}

// JWT configures signing and verification.
type JWT struct {
	// Secret is jwt.secret, the HMAC secret (at least 32 bytes). Empty together with
	// SecretFile and Keys: a random in-memory key is used and a warning logged.
	Secret Secret `mapstructure:"secret"`
	// SecretFile is jwt.secret_file, a file holding the secret (one trailing newline
	// is dropped); Load reads it into Secret.
	SecretFile string `mapstructure:"secret_file"`
	// Algorithm is jwt.algorithm for the single-secret form: HS256 (default), HS384
	// or HS512.
	Algorithm string `mapstructure:"algorithm"`
	// KeyID is jwt.key_id, the kid of the single secret (default: derived from the
	// secret's fingerprint, the same on every replica).
	KeyID string `mapstructure:"key_id"`
	// Issuer is jwt.issuer, the iss claim (default "jwtgate").
	Issuer string `mapstructure:"issuer"`
	// Audience is jwt.audience, the aud claim (default "jwtgate").
	Audience string `mapstructure:"audience"`
	// TTL is jwt.ttl, the default token lifetime (default 15m).
	TTL time.Duration `mapstructure:"ttl"`
	// MaxTTL is jwt.max_ttl, the longest lifetime a client may ask for (default 1h).
	MaxTTL time.Duration `mapstructure:"max_ttl"`
	// MaxSessionAge is jwt.max_session_age: a session may be refreshed until it is
	// this old (default 24h).
	MaxSessionAge time.Duration `mapstructure:"max_session_age"`
	// Leeway is jwt.leeway, the clock skew allowed on exp, nbf and iat (default 30s).
	Leeway time.Duration `mapstructure:"leeway"`
	// APIKeyClaim is jwt.api_key_claim: "sealed" (default) or "plain".
	APIKeyClaim string `mapstructure:"api_key_claim"`
	// Keys is jwt.keys, a key set for rotation; it replaces Secret when set.
	Keys []Key `mapstructure:"keys"`
	// SigningKey is jwt.signing_key, the kid in Keys that signs (default: the first).
	SigningKey string `mapstructure:"signing_key"`
	// SealSecret is jwt.seal_secret, a separate secret (at least 32 bytes) the
	// API-key seal key is derived from (default: derived from each signing key).
	SealSecret Secret `mapstructure:"seal_secret"`
	// SealSecretFile is jwt.seal_secret_file; Load reads it into SealSecret.
	SealSecretFile string `mapstructure:"seal_secret_file"`
	// NotBefore is jwt.not_before (RFC 3339): tokens issued before it are refused,
	// with no leeway. Zero: off.
	NotBefore time.Time `mapstructure:"not_before"`
	// VerifyCacheSize is jwt.verify_cache_size, how many verified tokens are
	// remembered so a repeat costs a lookup (default 10000; 0 turns the cache off).
	VerifyCacheSize int `mapstructure:"verify_cache_size"`
	// JWKSMaxAge is jwt.jwks_max_age, the Cache-Control max-age of
	// /.well-known/jwks.json (default 5m).
	JWKSMaxAge time.Duration `mapstructure:"jwks_max_age"`
}

// Key is one entry of jwt.keys.
type Key struct {
	// KID is the key's kid (required, unique).
	KID string `mapstructure:"kid"`
	// Alg is HS256, HS384, HS512, EdDSA, ES256 or RS256.
	Alg string `mapstructure:"alg"`
	// Secret is the HMAC secret (HS* only).
	Secret Secret `mapstructure:"secret"`
	// SecretFile is a file holding the HMAC secret; Load reads it into Secret.
	SecretFile string `mapstructure:"secret_file"`
	// PrivateKeyFile is a PKCS#8 PEM file (EdDSA, ES256, RS256); Load reads it into
	// PrivateKeyPEM.
	PrivateKeyFile string `mapstructure:"private_key_file"`
	// PrivateKeyPEM holds the contents of PrivateKeyFile after Load.
	PrivateKeyPEM Secret `mapstructure:"-"`
}

// APIKeys configures which API keys may open a session.
type APIKeys struct {
	// Allowed is api_keys.allowed: when non-empty, only these keys are accepted.
	// Entries are plain keys or "sha256:<hex>" digests of keys. In the environment,
	// JWTGATE_API_KEYS_ALLOWED is comma-separated.
	Allowed []Secret `mapstructure:"allowed"`
}

// Chat configures the /chat routes.
type Chat struct {
	// UpstreamURL is chat.upstream_url; nil means the built-in echo backend.
	UpstreamURL *url.URL `mapstructure:"upstream_url"`
	// UpstreamAuthHeader is chat.upstream_auth_header (default "Authorization").
	UpstreamAuthHeader string `mapstructure:"upstream_auth_header"`
	// UpstreamAuthScheme is chat.upstream_auth_scheme (default "Bearer"; empty sends
	// the bare key).
	UpstreamAuthScheme string `mapstructure:"upstream_auth_scheme"`
	// EchoDelay is chat.echo_delay, the pause between the words of a streamed echo
	// reply (default 20ms).
	EchoDelay time.Duration `mapstructure:"echo_delay"`
	// ConnectTimeout is chat.connect_timeout for dialling the upstream (default 10s).
	ConnectTimeout time.Duration `mapstructure:"connect_timeout"`
	// ResponseHeaderTimeout is chat.response_header_timeout (default 60s): 504 after it.
	ResponseHeaderTimeout time.Duration `mapstructure:"response_header_timeout"`
	// IdleTimeout is chat.idle_timeout: a chat response, proxied or echoed, is
	// ended when its upstream sends nothing for this long or its client takes
	// this long to accept a write (default 60s).
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// MaxStreamDuration is chat.max_stream_duration, the longest a single chat
	// response, proxied or echoed, may stream (default 10m).
	MaxStreamDuration time.Duration `mapstructure:"max_stream_duration"`
	// MaxBodyBytes is chat.max_body_bytes, the largest request body forwarded
	// (default 1 MiB); larger bodies get 413.
	MaxBodyBytes int64 `mapstructure:"max_body_bytes"`
	// AllowedPaths is chat.allowed_paths: when non-empty, only upstream paths under
	// one of these prefixes are forwarded.
	AllowedPaths []string `mapstructure:"allowed_paths"`
	// AllowSetCookie is chat.allow_set_cookie: pass the upstream's Set-Cookie
	// headers through (default false: dropped).
	AllowSetCookie bool `mapstructure:"allow_set_cookie"`
	// AllowedMethods is chat.allowed_methods, the request methods forwarded
	// upstream (default GET, POST, PUT, PATCH, DELETE, HEAD); others get 405.
	// TRACE and CONNECT are refused here and never forwarded.
	AllowedMethods []string `mapstructure:"allowed_methods"`
}

// CORS configures cross-origin access for browser and webview UIs (DESIGN.md,
// "Browser and IDE clients"). jwtgate answers CORS preflights itself, echoes an
// allowed origin (never "*") and never sends Access-Control-Allow-Credentials:
// the session token travels in a header, not a cookie. There is deliberately no
// setting to send credentials.
type CORS struct {
	// AllowedOrigins is cors.allowed_origins: the origins that may call jwtgate
	// from a browser. Entries are exact origins ("https://app.example",
	// "http://127.0.0.1:5173"), host wildcards ("https://*.example.com": any
	// subdomain at any depth, not example.com itself) and scheme wildcards
	// ("vscode-webview://*"); see crossorigin.ParseOrigin for the exact rules.
	// Empty (the default): no CORS headers at all. In the environment,
	// JWTGATE_CORS_ALLOWED_ORIGINS is comma-separated.
	AllowedOrigins []string `mapstructure:"allowed_origins"`
	// AllowedHeaders is cors.allowed_headers: request headers an allowed origin
	// may send besides the built-in ones (Authorization, Content-Type, X-API-Key,
	// DPoP, the OpenAI and Anthropic SDK headers, ...). A trailing "*" makes a
	// prefix ("x-myco-*"). Default: none. JWTGATE_CORS_ALLOWED_HEADERS is
	// comma-separated.
	AllowedHeaders []string `mapstructure:"allowed_headers"`
	// MaxAge is cors.max_age, how long a browser may cache a preflight answer,
	// sent in whole seconds as Access-Control-Max-Age (default 10m; 0: browsers
	// must not cache it). Browsers cap it (Chromium at 2h, Firefox at 24h).
	MaxAge time.Duration `mapstructure:"max_age"`
}

// DPoP configures sender-constrained sessions (RFC 9449; DESIGN.md,
// "Sender-constrained sessions: DPoP"). A client binds its session to a key by
// sending a DPoP proof (or dpop_jkt) to POST /sessions; the bound token is then
// accepted only with a proof of that key. Changes to dpop.* apply on reload,
// except dpop.replay_cache_size.
type DPoP struct {
	// Required is dpop.required: POST /sessions issues only bound tokens (a
	// DPoP proof or dpop_jkt is required) and an unbound token is not refreshed
	// (default false).
	Required bool `mapstructure:"required"`
	// RequireNonce is dpop.require_nonce: every proof must carry a server nonce,
	// handed out in the DPoP-Nonce header (RFC 9449 section 8; default false).
	RequireNonce bool `mapstructure:"require_nonce"`
	// MaxAge is dpop.max_age: how long after its iat a proof is accepted, plus
	// jwt.leeway (default 60s, at most 10m).
	MaxAge time.Duration `mapstructure:"max_age"`
	// ReplayCacheSize is dpop.replay_cache_size: how many proofs a replica
	// remembers against replay (default 100000, in each of two caches: POST
	// /sessions and the rest). Past it, proofs are refused until old ones
	// expire. Read at start only.
	ReplayCacheSize int `mapstructure:"replay_cache_size"`
	// NonceWindow is dpop.nonce_window: how long one nonce is handed out; a
	// nonce is accepted in its own window and the next (default 5m, 1s to 24h).
	NonceWindow time.Duration `mapstructure:"nonce_window"`
	// NonceSecret is dpop.nonce_secret (at least 32 bytes): nonces are a MAC
	// under a key derived from it, so every replica holding it accepts every
	// replica's nonces. Default: derived from jwt.seal_secret, else from the
	// signing key's secret, so replicas with the same keys agree.
	NonceSecret Secret `mapstructure:"nonce_secret"`
	// NonceSecretFile is dpop.nonce_secret_file; Load reads it into NonceSecret.
	NonceSecretFile string `mapstructure:"nonce_secret_file"`
}

// RateLimit configures rate limiting of POST /sessions and POST /sessions/refresh.
type RateLimit struct {
	// SessionsPerMinute is rate_limit.sessions_per_minute, the POST /sessions
	// requests allowed per client address per minute (default 60; 0: off).
	SessionsPerMinute int `mapstructure:"sessions_per_minute"`
	// Burst is rate_limit.burst (default 10).
	Burst int `mapstructure:"burst"`
	// RefreshesPerMinute is rate_limit.refreshes_per_minute, the POST
	// /sessions/refresh requests allowed per session per minute, a minute's worth
	// at once (default 6; 0: off). It keeps one token from minting tokens in bulk.
	RefreshesPerMinute int `mapstructure:"refreshes_per_minute"`
}

// Limits configures the session limits that POST /sessions signs into tokens
// (its body member "limits"). For each member, a session gets what it asks for,
// else limits.default, else limits.max, else no limit; asking for more than
// limits.max is refused. The default is none.
type Limits struct {
	// Default is limits.default: what a session that asks for nothing gets.
	Default LimitSet `mapstructure:"default"`
	// Max is limits.max: the most a session may ask for.
	Max LimitSet `mapstructure:"max"`
	// RedisURL is limits.redis_url: redis://[[user]:password@]host[:port][/db]
	// or rediss:// for TLS. With it, every replica shares the sessions'
	// counters in Redis; without it (the default), each replica counts on its
	// own, so N replicas let through at most N times a limit. A Redis that is
	// unreachable never stops jwtgate: it counts locally until Redis answers.
	RedisURL RedisURL `mapstructure:"redis_url"`
	// MaxSessions is limits.max_sessions, the most sessions a replica keeps
	// local counters for (about 200 bytes each; default 100000, about 20 MB);
	// past it the least recently used session's counters are dropped.
	MaxSessions int `mapstructure:"max_sessions"`
	// MetricsModels is limits.metrics_models, the model names that
	// jwtgate_chat_tokens_total counts by name; any other model counts as
	// "other". Default: none. JWTGATE_LIMITS_METRICS_MODELS is comma-separated.
	MetricsModels []string `mapstructure:"metrics_models"`
}

// LimitSet is one set of session limits. Zero numbers and empty lists mean no
// limit. In the environment, lists are comma-separated
// (JWTGATE_LIMITS_DEFAULT_MODELS=gpt-4o-mini,claude-*).
type LimitSet struct {
	// Models are the allowed values of a request body's "model": exact names, or
	// prefixes ending in "*".
	Models []string `mapstructure:"models"`
	// Paths are the allowed paths after /chat, as prefixes on segment boundaries.
	Paths []string `mapstructure:"paths"`
	// MaxOutputTokens caps the output tokens one request may ask for.
	MaxOutputTokens int64 `mapstructure:"max_output_tokens"`
	// RequestsPerMinute limits a session's requests per minute.
	RequestsPerMinute int64 `mapstructure:"requests_per_minute"`
	// TokensPerMinute limits a session's tokens per minute.
	TokensPerMinute int64 `mapstructure:"tokens_per_minute"`
	// TotalTokens is a session's token budget over its whole life.
	TotalTokens int64 `mapstructure:"total_tokens"`
	// ConcurrentRequests limits a session's requests in flight.
	ConcurrentRequests int64 `mapstructure:"concurrent_requests"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Enabled is metrics.enabled: serve GET /metrics (default true).
	Enabled bool `mapstructure:"enabled"`
	// Addr is metrics.addr: when set, /metrics is served on this separate listener
	// instead of the public one (default "": the public listener).
	Addr string `mapstructure:"addr"`
}

// Log configures logging.
type Log struct {
	// Level is log.level: debug, info (default), warn or error.
	Level string `mapstructure:"level"`
	// Format is log.format: json (default) or text.
	Format string `mapstructure:"format"`
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Server: Server{
			Addr:              "127.0.0.1:8080",
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   15 * time.Second,
			MaxHeaderBytes:    16 << 10,
			MaxBodyBytes:      64 << 10,
		},
		JWT: JWT{
			Algorithm:       "HS256",
			Issuer:          "jwtgate",
			Audience:        "jwtgate",
			TTL:             15 * time.Minute,
			MaxTTL:          time.Hour,
			MaxSessionAge:   24 * time.Hour,
			Leeway:          30 * time.Second,
			APIKeyClaim:     "sealed",
			VerifyCacheSize: token.DefaultCacheSize,
			JWKSMaxAge:      5 * time.Minute,
		},
		Limits: Limits{MaxSessions: meter.DefaultCapacity},
		Chat: Chat{
			UpstreamAuthHeader:    "Authorization",
			UpstreamAuthScheme:    "Bearer",
			EchoDelay:             20 * time.Millisecond,
			ConnectTimeout:        10 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			IdleTimeout:           60 * time.Second,
			MaxStreamDuration:     10 * time.Minute,
			MaxBodyBytes:          1 << 20,
			AllowedMethods:        []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"},
		},
		CORS: CORS{MaxAge: 10 * time.Minute},
		DPoP: DPoP{
			MaxAge:          dpop.DefaultMaxAge,
			ReplayCacheSize: dpop.DefaultReplayCacheSize,
			NonceWindow:     dpop.DefaultNonceWindow,
		},
		RateLimit: RateLimit{SessionsPerMinute: 60, Burst: 10, RefreshesPerMinute: 6},
		Metrics:   Metrics{Enabled: true},
		Log:       Log{Level: "info", Format: "json"},
	}
}
