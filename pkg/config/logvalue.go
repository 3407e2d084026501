package config

import (
	"log/slog"
	"net/url"
	"strconv"
	"time"
)

// LogValue implements slog.LogValuer: c as nested groups named by the
// configuration keys, safe to log at start-up. Secrets appear only as
// "[redacted]" (or "" when unset), api_keys.allowed only as a count, and
// chat.upstream_url only as scheme, host and path.
func (c Config) LogValue() slog.Value {
	s, j, ch := c.Server, c.JWT, c.Chat
	keys := make([]slog.Attr, 0, len(j.Keys))
	for i, k := range j.Keys {
		keys = append(keys, slog.Group(strconv.Itoa(i),
			slog.String("kid", k.KID),
			slog.String("alg", k.Alg),
			slog.String("secret", k.Secret.String()),
			slog.String("secret_file", k.SecretFile),
			slog.String("private_key_file", k.PrivateKeyFile),
		))
	}
	notBefore := ""
	if !j.NotBefore.IsZero() {
		notBefore = j.NotBefore.Format(time.RFC3339)
	}
	return slog.GroupValue(
		slog.Group("server",
			slog.String("addr", s.Addr),
			slog.Duration("read_header_timeout", s.ReadHeaderTimeout),
			slog.Duration("read_timeout", s.ReadTimeout),
			slog.Duration("idle_timeout", s.IdleTimeout),
			slog.Duration("shutdown_timeout", s.ShutdownTimeout),
			slog.Int("max_header_bytes", s.MaxHeaderBytes),
			slog.Int64("max_body_bytes", s.MaxBodyBytes),
			slog.Any("trusted_proxies", s.TrustedProxies),
			slog.String("tls_cert_file", s.TLSCertFile),
			slog.String("tls_key_file", s.TLSKeyFile),
		),
		slog.Group("jwt",
			slog.String("secret", j.Secret.String()),
			slog.String("secret_file", j.SecretFile),
			slog.String("algorithm", j.Algorithm),
			slog.String("key_id", j.KeyID),
			slog.String("issuer", j.Issuer),
			slog.String("audience", j.Audience),
			slog.Duration("ttl", j.TTL),
			slog.Duration("max_ttl", j.MaxTTL),
			slog.Duration("max_session_age", j.MaxSessionAge),
			slog.Duration("leeway", j.Leeway),
			slog.String("api_key_claim", j.APIKeyClaim),
			slog.Attr{Key: "keys", Value: slog.GroupValue(keys...)},
			slog.String("signing_key", j.SigningKey),
			slog.String("seal_secret", j.SealSecret.String()),
			slog.String("seal_secret_file", j.SealSecretFile),
			slog.String("not_before", notBefore),
			slog.Int("verify_cache_size", j.VerifyCacheSize),
			slog.Duration("jwks_max_age", j.JWKSMaxAge),
		),
		slog.Group("api_keys",
			slog.Int("allowed", len(c.APIKeys.Allowed)),
		),
		slog.Group("chat",
			slog.String("upstream_url", safeURL(ch.UpstreamURL)),
			slog.String("upstream_auth_header", ch.UpstreamAuthHeader),
			slog.String("upstream_auth_scheme", ch.UpstreamAuthScheme),
			slog.Duration("echo_delay", ch.EchoDelay),
			slog.Duration("connect_timeout", ch.ConnectTimeout),
			slog.Duration("response_header_timeout", ch.ResponseHeaderTimeout),
			slog.Duration("idle_timeout", ch.IdleTimeout),
			slog.Duration("max_stream_duration", ch.MaxStreamDuration),
			slog.Int64("max_body_bytes", ch.MaxBodyBytes),
			slog.Any("allowed_paths", ch.AllowedPaths),
			slog.Bool("allow_set_cookie", ch.AllowSetCookie),
			slog.Any("allowed_methods", ch.AllowedMethods),
		),
		slog.Group("cors",
			slog.Any("allowed_origins", c.CORS.AllowedOrigins),
			slog.Any("allowed_headers", c.CORS.AllowedHeaders),
			slog.Duration("max_age", c.CORS.MaxAge),
		),
		slog.Group("dpop",
			slog.Bool("required", c.DPoP.Required),
			slog.Bool("require_nonce", c.DPoP.RequireNonce),
			slog.Duration("max_age", c.DPoP.MaxAge),
			slog.Int("replay_cache_size", c.DPoP.ReplayCacheSize),
			slog.Duration("nonce_window", c.DPoP.NonceWindow),
			slog.String("nonce_secret", c.DPoP.NonceSecret.String()),
			slog.String("nonce_secret_file", c.DPoP.NonceSecretFile),
		),
		slog.Group("rate_limit",
			slog.Int("sessions_per_minute", c.RateLimit.SessionsPerMinute),
			slog.Int("burst", c.RateLimit.Burst),
			slog.Int("refreshes_per_minute", c.RateLimit.RefreshesPerMinute),
		),
		slog.Group("limits",
			c.Limits.Default.logAttr("default"),
			c.Limits.Max.logAttr("max"),
			slog.String("redis_url", c.Limits.RedisURL.String()),
			slog.Int("max_sessions", c.Limits.MaxSessions),
			slog.Any("metrics_models", c.Limits.MetricsModels),
		),
		slog.Group("metrics",
			slog.Bool("enabled", c.Metrics.Enabled),
			slog.String("addr", c.Metrics.Addr),
		),
		slog.Group("log",
			slog.String("level", c.Log.Level),
			slog.String("format", c.Log.Format),
		),
	)
}

func (s LimitSet) logAttr(name string) slog.Attr {
	return slog.Group(name,
		slog.Any("models", s.Models),
		slog.Any("paths", s.Paths),
		slog.Int64("max_output_tokens", s.MaxOutputTokens),
		slog.Int64("requests_per_minute", s.RequestsPerMinute),
		slog.Int64("tokens_per_minute", s.TokensPerMinute),
		slog.Int64("total_tokens", s.TotalTokens),
		slog.Int64("concurrent_requests", s.ConcurrentRequests),
	)
}

// safeURL returns u's scheme, host and path: user info, query and fragment may
// carry credentials and are left out. A nil u gives "".
func safeURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}
