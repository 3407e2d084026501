package config

import (
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/jwtgate/jwtgate/pkg/crossorigin"
	"github.com/jwtgate/jwtgate/pkg/dpop"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// MaxLeeway is the largest jwt.leeway [Config.Validate] accepts: more would let
// expired tokens live on for a meaningful time.
const MaxLeeway = 5 * time.Minute

// The rules for keys (HMAC secret lengths, kids, the seal secret) and for the
// api_keys.allowed format are pkg/token's: Validate calls them rather than
// restating them, so a configuration passes exactly when the keys it names build.

// isAsymmetric reports whether alg signs with a private key file.
func isAsymmetric(alg string) bool {
	return alg == token.EdDSA || alg == token.ES256 || alg == token.RS256
}

// problems collects validation errors, each starting with the key it is about.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, errors.New(key+": "+fmt.Sprintf(format, args...)))
}

// positive reports d <= 0 for key.
func (p *problems) positive(key string, d time.Duration) {
	if d <= 0 {
		p.add(key, "must be positive, got %s", d)
	}
}

// Validate reports every problem with c at once, joined with [errors.Join], each
// message starting with the key it concerns ("jwt.ttl: must be positive, got 0s").
// It changes nothing and never includes secret values in its messages. Secrets
// held in files must already have been read into c, as [Load] does.
//
// The chat.* keys are not checked here: their rules belong to the server that
// uses them (server.ChatConfig.Validate in pkg/server, which this package does not
// import), and the binary runs both, at start-up and on every reload.
func (c Config) Validate() error {
	var p problems
	c.Server.validate(&p)
	c.JWT.validate(&p)
	c.APIKeys.validate(&p)
	c.CORS.validate(&p)
	c.DPoP.validate(&p)
	c.RateLimit.validate(&p)
	_, _, limitErrs := c.Limits.build()
	p = append(p, limitErrs...)
	c.Limits.validate(&p)
	c.Metrics.validate(&p, c.Server.Addr)
	c.Log.validate(&p)
	return errors.Join(p...)
}

func (s Server) validate(p *problems) {
	if s.Addr == "" {
		p.add("server.addr", "must not be empty")
	} else if _, port, err := net.SplitHostPort(s.Addr); err != nil {
		p.add("server.addr", "want host:port, got %q", s.Addr)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add("server.addr", "port must be a number from 0 to 65535, got %q", port)
	}
	p.positive("server.read_header_timeout", s.ReadHeaderTimeout)
	p.positive("server.read_timeout", s.ReadTimeout)
	p.positive("server.idle_timeout", s.IdleTimeout)
	p.positive("server.shutdown_timeout", s.ShutdownTimeout)
	if s.MaxHeaderBytes <= 0 {
		p.add("server.max_header_bytes", "must be positive, got %d", s.MaxHeaderBytes)
	}
	if s.MaxBodyBytes <= 0 {
		p.add("server.max_body_bytes", "must be positive, got %d", s.MaxBodyBytes)
	}
	for i, tp := range s.TrustedProxies {
		if net.ParseIP(tp) == nil {
			if _, _, err := net.ParseCIDR(tp); err != nil {
				p.add(fmt.Sprintf("server.trusted_proxies[%d]", i), "want an IP address or CIDR range, got %q", tp)
			}
		}
	}
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		p.add("server.tls_cert_file", "server.tls_cert_file and server.tls_key_file must be set together")
	}
}

func (m Metrics) validate(p *problems, serverAddr string) {
	if m.Addr == "" {
		return
	}
	if _, port, err := net.SplitHostPort(m.Addr); err != nil {
		p.add("metrics.addr", "want host:port, got %q", m.Addr)
	} else if m.Addr == serverAddr && port != "0" { // two port-0 listeners never clash
		p.add("metrics.addr", "must differ from server.addr; leave it empty to share the public listener")
	}
}

func (j JWT) validate(p *problems) {
	minLen, ok := token.HMACMinLen(j.Algorithm)
	if !ok {
		p.add("jwt.algorithm", "want HS256, HS384 or HS512, got %q", j.Algorithm)
		minLen, _ = token.HMACMinLen(token.HS256)
	}
	checkSecret(p, "jwt.secret", j.Secret, j.SecretFile, minLen, j.Algorithm)
	if j.KeyID != "" {
		checkKeyID(p, "jwt.key_id", j.KeyID)
	}
	checkSecret(p, "jwt.seal_secret", j.SealSecret, j.SealSecretFile, token.MinSealSecretLen, "")

	if j.Issuer == "" {
		p.add("jwt.issuer", "must not be empty")
	}
	if j.Audience == "" {
		p.add("jwt.audience", "must not be empty")
	}
	p.positive("jwt.ttl", j.TTL)
	if j.TTL > 0 && j.TTL > j.MaxTTL {
		p.add("jwt.ttl", "%s exceeds jwt.max_ttl (%s)", j.TTL, j.MaxTTL)
	}
	if j.MaxTTL > j.MaxSessionAge {
		p.add("jwt.max_ttl", "%s exceeds jwt.max_session_age (%s)", j.MaxTTL, j.MaxSessionAge)
	}
	if j.Leeway < 0 {
		p.add("jwt.leeway", "must not be negative, got %s", j.Leeway)
	} else if j.Leeway > MaxLeeway {
		p.add("jwt.leeway", "must be at most %s, got %s", MaxLeeway, j.Leeway)
	}
	if j.VerifyCacheSize < 0 || j.VerifyCacheSize > 10_000_000 {
		p.add("jwt.verify_cache_size", "want 0 (off) to 10000000, got %d", j.VerifyCacheSize)
	}
	if j.JWKSMaxAge < 0 {
		p.add("jwt.jwks_max_age", "must not be negative, got %s", j.JWKSMaxAge)
	}
	if j.APIKeyClaim != "sealed" && j.APIKeyClaim != "plain" {
		p.add("jwt.api_key_claim", "want sealed or plain, got %q", j.APIKeyClaim)
	}

	if len(j.Keys) > 0 && (j.Secret != "" || j.SecretFile != "") {
		p.add("jwt.keys", "cannot be combined with jwt.secret or jwt.secret_file; move the secret into jwt.keys")
	}
	seen := make(map[string]int, len(j.Keys))
	for i, k := range j.Keys {
		prefix := fmt.Sprintf("jwt.keys[%d]", i)
		if k.KID == "" {
			p.add(prefix+".kid", "required")
		} else {
			checkKeyID(p, prefix+".kid", k.KID)
			if first, dup := seen[k.KID]; dup {
				p.add(prefix+".kid", "%q is also the kid of jwt.keys[%d]; kids must be unique", k.KID, first)
			} else {
				seen[k.KID] = i
			}
		}
		k.validate(p, prefix)
	}
	if j.SigningKey != "" {
		if len(j.Keys) == 0 {
			p.add("jwt.signing_key", "set, but jwt.keys is empty")
		} else if _, ok := seen[j.SigningKey]; !ok {
			p.add("jwt.signing_key", "no jwt.keys entry has kid %q", j.SigningKey)
		}
	}
}

func (k Key) validate(p *problems, prefix string) {
	switch minLen, hmac := token.HMACMinLen(k.Alg); {
	case hmac:
		if k.Secret == "" && k.SecretFile == "" {
			p.add(prefix, "an %s key needs secret or secret_file", k.Alg)
		}
		checkSecret(p, prefix+".secret", k.Secret, k.SecretFile, minLen, k.Alg)
		if k.PrivateKeyFile != "" {
			p.add(prefix+".private_key_file", "not used by %s keys; use secret or secret_file", k.Alg)
		}
	case isAsymmetric(k.Alg):
		if k.Secret != "" {
			p.add(prefix+".secret", "not used by %s keys; use private_key_file", k.Alg)
		}
		if k.SecretFile != "" {
			p.add(prefix+".secret_file", "not used by %s keys; use private_key_file", k.Alg)
		}
		switch {
		case k.PrivateKeyFile == "":
			p.add(prefix+".private_key_file", "required for %s keys", k.Alg)
		case k.PrivateKeyPEM == "":
			p.add(prefix+".private_key_file", "not read; Load reads it")
		default:
			if b, _ := pem.Decode([]byte(k.PrivateKeyPEM)); b == nil || b.Type != "PRIVATE KEY" {
				p.add(prefix+".private_key_file", "holds no PKCS#8 \"PRIVATE KEY\" PEM block")
			}
		}
	case k.Alg == "":
		p.add(prefix+".alg", "required")
	default:
		p.add(prefix+".alg", "want HS256, HS384, HS512, EdDSA, ES256 or RS256, got %q", k.Alg)
	}
}

// checkSecret checks an optional secret of at least minLen bytes (for alg, if
// not empty) whose file, if any, must have been read. Only lengths are reported.
func checkSecret(p *problems, key string, s Secret, file string, minLen int, alg string) {
	switch {
	case s == "" && file != "":
		p.add(key+"_file", "not read; Load reads it into %s", key)
	case s != "" && len(s) < minLen:
		if alg != "" {
			p.add(key, "must be at least %d bytes for %s, got %d", minLen, alg, len(s))
		} else {
			p.add(key, "must be at least %d bytes, got %d", minLen, len(s))
		}
	}
}

// checkKeyID applies pkg/token's rule for kids ([token.CheckKeyID]).
func checkKeyID(p *problems, key, kid string) {
	if err := token.CheckKeyID(kid); err != nil {
		p.add(key, "%v", err)
	}
}

// validate applies pkg/token's allowlist format ([token.ParseAllowedKey]), whose
// errors never quote the entry.
func (a APIKeys) validate(p *problems) {
	for i, k := range a.Allowed {
		if _, err := token.ParseAllowedKey(string(k)); err != nil {
			p.add(fmt.Sprintf("api_keys.allowed[%d]", i), "%v", err)
		}
	}
}

// validate applies crossorigin's rules, the ones the server builds its CORS
// policy with, so start-up refuses exactly what the server could not use.
func (c CORS) validate(p *problems) {
	for i, o := range c.AllowedOrigins {
		if _, err := crossorigin.ParseOrigin(o); err != nil {
			p.add(fmt.Sprintf("cors.allowed_origins[%d]", i), "%v", err)
		}
	}
	for i, h := range c.AllowedHeaders {
		if _, err := crossorigin.ParseHeader(h); err != nil {
			p.add(fmt.Sprintf("cors.allowed_headers[%d]", i), "%v", err)
		}
	}
	if c.MaxAge < 0 {
		p.add("cors.max_age", "must not be negative, got %s", c.MaxAge)
	}
}

// Bounds of the dpop.* values [Config.Validate] accepts.
const (
	// MaxDPoPMaxAge bounds dpop.max_age: a proof is a one-request credential, and
	// the replay cache must hold every proof for that long.
	MaxDPoPMaxAge = 10 * time.Minute
	// MaxReplayCacheSize bounds dpop.replay_cache_size (about 50 bytes a proof).
	MaxReplayCacheSize = 10_000_000
	// MaxNonceWindow bounds dpop.nonce_window.
	MaxNonceWindow = 24 * time.Hour
)

// validate checks dpop.* with pkg/dpop's own minimums (the nonce secret's length,
// the nonce window), so start-up refuses what the verifier could not be built with.
func (d DPoP) validate(p *problems) {
	if d.MaxAge <= 0 || d.MaxAge > MaxDPoPMaxAge {
		p.add("dpop.max_age", "want more than 0s and at most %s, got %s", MaxDPoPMaxAge, d.MaxAge)
	}
	if d.ReplayCacheSize < 1 || d.ReplayCacheSize > MaxReplayCacheSize {
		p.add("dpop.replay_cache_size", "want 1 to %d, got %d", MaxReplayCacheSize, d.ReplayCacheSize)
	}
	if d.NonceWindow < dpop.MinNonceWindow || d.NonceWindow > MaxNonceWindow {
		p.add("dpop.nonce_window", "want %s to %s, got %s", dpop.MinNonceWindow, MaxNonceWindow, d.NonceWindow)
	}
	checkSecret(p, "dpop.nonce_secret", d.NonceSecret, d.NonceSecretFile, dpop.MinNonceSecretLen, "")
}

func (r RateLimit) validate(p *problems) {
	if r.SessionsPerMinute < 0 {
		p.add("rate_limit.sessions_per_minute", "must not be negative (0 turns rate limiting off), got %d", r.SessionsPerMinute)
	}
	if r.RefreshesPerMinute < 0 {
		p.add("rate_limit.refreshes_per_minute", "must not be negative (0 turns the limit off), got %d", r.RefreshesPerMinute)
	}
	if r.Burst < 1 {
		p.add("rate_limit.burst", "must be at least 1, got %d", r.Burst)
	}
}

func (l Log) validate(p *problems) {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "want debug, info, warn or error, got %q", l.Level)
	}
	if l.Format != "json" && l.Format != "text" {
		p.add("log.format", "want json or text, got %q", l.Format)
	}
}
