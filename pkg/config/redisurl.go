package config

import (
	"log/slog"
	"net/url"

	"github.com/jwtgate/jwtgate/pkg/meter"
)

// RedisURL is limits.redis_url, which may hold a password
// (redis://:password@host:6379/0). Like [Secret] it never prints whole: String,
// GoString and LogValue show only its scheme, host and path, never its user
// information or query; use string(u) only where the URL is needed.
type RedisURL string

// String returns the URL's scheme, host and path ("redis://redis:6379/0"), ""
// when unset, and "[redacted]" for a value that does not parse as a URL.
func (u RedisURL) String() string {
	if u == "" {
		return ""
	}
	p, err := url.Parse(string(u))
	if err != nil {
		return "[redacted]"
	}
	return (&url.URL{Scheme: p.Scheme, Host: p.Host, Path: p.Path}).String()
}

// GoString is String, so %#v masks the password too.
func (u RedisURL) GoString() string { return u.String() }

// LogValue implements slog.LogValuer with the masked form.
func (u RedisURL) LogValue() slog.Value { return slog.StringValue(u.String()) }

// MaxSessionsCap is the largest limits.max_sessions [Config.Validate] accepts:
// about 2 GB of local counters.
const MaxSessionsCap = 10_000_000

// validate checks the counting keys of limits. pkg/meter owns the rule for
// the Redis URL; its errors never quote the URL. limits.metrics_models is the
// server's (server.LimitsConfig.Validate).
func (l Limits) validate(p *problems) {
	if l.RedisURL != "" {
		if _, err := meter.ParseRedisURL(string(l.RedisURL)); err != nil {
			p.add("limits.redis_url", "%v", err)
		}
	}
	if l.MaxSessions < 1 || l.MaxSessions > MaxSessionsCap {
		p.add("limits.max_sessions", "must be from 1 to %d, got %d", MaxSessionsCap, l.MaxSessions)
	}
}
