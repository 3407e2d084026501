package config_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jwtgate/jwtgate/pkg/config"
)

// testPEM is a syntactically valid PKCS#8 block; Validate checks the block, not the key.
const testPEM = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("parsing %q: %v", s, err)
	}
	return u
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(t *testing.T, c *config.Config)
		// want holds the text of the one expected problem, starting with its key; "" means valid.
		want string
	}{
		{name: "defaults", edit: func(*testing.T, *config.Config) {}},
		{name: "empty addr", edit: func(_ *testing.T, c *config.Config) { c.Server.Addr = "" }, want: "server.addr: must not be empty"},
		{name: "addr without port", edit: func(_ *testing.T, c *config.Config) { c.Server.Addr = "localhost" }, want: "server.addr: want host:port"},
		{name: "addr with bad port", edit: func(_ *testing.T, c *config.Config) { c.Server.Addr = "localhost:99999" }, want: "server.addr: port"},
		{name: "addr any host", edit: func(_ *testing.T, c *config.Config) { c.Server.Addr = ":8080" }},
		{name: "zero read timeout", edit: func(_ *testing.T, c *config.Config) { c.Server.ReadTimeout = 0 }, want: "server.read_timeout: must be positive"},
		{name: "negative shutdown timeout", edit: func(_ *testing.T, c *config.Config) { c.Server.ShutdownTimeout = -time.Second }, want: "server.shutdown_timeout: must be positive"},
		{name: "zero max header bytes", edit: func(_ *testing.T, c *config.Config) { c.Server.MaxHeaderBytes = 0 }, want: "server.max_header_bytes: must be positive"},
		{name: "zero max body bytes", edit: func(_ *testing.T, c *config.Config) { c.Server.MaxBodyBytes = 0 }, want: "server.max_body_bytes: must be positive"},
		{name: "trusted proxies", edit: func(_ *testing.T, c *config.Config) {
			c.Server.TrustedProxies = []string{"10.0.0.1", "::1", "10.0.0.0/8"}
		}},
		{name: "bad trusted proxy", edit: func(_ *testing.T, c *config.Config) { c.Server.TrustedProxies = []string{"10.0.0.1", "proxy.local"} }, want: `server.trusted_proxies[1]: want an IP address or CIDR range, got "proxy.local"`},
		{name: "tls cert without key", edit: func(_ *testing.T, c *config.Config) { c.Server.TLSCertFile = "cert.pem" }, want: "server.tls_cert_file: server.tls_cert_file and server.tls_key_file must be set together"},
		{name: "metrics addr", edit: func(_ *testing.T, c *config.Config) { c.Metrics.Addr = "127.0.0.1:9090" }},
		{name: "metrics addr bad", edit: func(_ *testing.T, c *config.Config) { c.Metrics.Addr = "9090" }, want: `metrics.addr: want host:port, got "9090"`},
		{name: "metrics and server both on port 0", edit: func(_ *testing.T, c *config.Config) { c.Server.Addr, c.Metrics.Addr = "127.0.0.1:0", "127.0.0.1:0" }},
		{name: "metrics addr same as server", edit: func(_ *testing.T, c *config.Config) { c.Metrics.Addr = c.Server.Addr }, want: "metrics.addr: must differ from server.addr"},
		{name: "negative verify cache", edit: func(_ *testing.T, c *config.Config) { c.JWT.VerifyCacheSize = -1 }, want: "jwt.verify_cache_size: want 0 (off) to 10000000, got -1"},
		{name: "verify cache off", edit: func(_ *testing.T, c *config.Config) { c.JWT.VerifyCacheSize = 0 }},
		{name: "negative jwks max age", edit: func(_ *testing.T, c *config.Config) { c.JWT.JWKSMaxAge = -time.Second }, want: "jwt.jwks_max_age: must not be negative"},

		{name: "secret 31 bytes", edit: func(_ *testing.T, c *config.Config) { c.JWT.Secret = config.Secret(secret32[1:]) }, want: "jwt.secret: must be at least 32 bytes for HS256, got 31"},
		{name: "secret 32 bytes", edit: func(_ *testing.T, c *config.Config) { c.JWT.Secret = secret32 }},
		{name: "HS512 secret of 32 bytes", edit: func(_ *testing.T, c *config.Config) {
			c.JWT.Secret, c.JWT.Algorithm = secret32, "HS512"
		}, want: "jwt.secret: must be at least 64 bytes for HS512, got 32"},
		{name: "unknown algorithm", edit: func(_ *testing.T, c *config.Config) { c.JWT.Algorithm = "none" }, want: `jwt.algorithm: want HS256, HS384 or HS512, got "none"`},
		{name: "secret_file not read", edit: func(_ *testing.T, c *config.Config) { c.JWT.SecretFile = "/run/secret" }, want: "jwt.secret_file: not read"},
		{name: "bad key_id", edit: func(_ *testing.T, c *config.Config) { c.JWT.KeyID = "has space" }, want: "jwt.key_id: key is invalid: kid must be 1 to 128 printable ASCII characters"},
		{name: "seal secret 31 bytes", edit: func(_ *testing.T, c *config.Config) { c.JWT.SealSecret = config.Secret(secret32[1:]) }, want: "jwt.seal_secret: must be at least 32 bytes, got 31"},
		{name: "empty issuer", edit: func(_ *testing.T, c *config.Config) { c.JWT.Issuer = "" }, want: "jwt.issuer: must not be empty"},
		{name: "empty audience", edit: func(_ *testing.T, c *config.Config) { c.JWT.Audience = "" }, want: "jwt.audience: must not be empty"},
		{name: "zero ttl", edit: func(_ *testing.T, c *config.Config) { c.JWT.TTL = 0 }, want: "jwt.ttl: must be positive"},
		{name: "ttl over max_ttl", edit: func(_ *testing.T, c *config.Config) { c.JWT.TTL = 2 * time.Hour }, want: "jwt.ttl: 2h0m0s exceeds jwt.max_ttl"},
		{name: "ttl equal to max_ttl", edit: func(_ *testing.T, c *config.Config) { c.JWT.TTL = time.Hour }},
		{name: "max_ttl over max_session_age", edit: func(_ *testing.T, c *config.Config) {
			c.JWT.MaxTTL, c.JWT.MaxSessionAge = 2*time.Hour, time.Hour
		}, want: "jwt.max_ttl: 2h0m0s exceeds jwt.max_session_age"},
		{name: "negative leeway", edit: func(_ *testing.T, c *config.Config) { c.JWT.Leeway = -time.Second }, want: "jwt.leeway: must not be negative"},
		{name: "zero leeway", edit: func(_ *testing.T, c *config.Config) { c.JWT.Leeway = 0 }},
		{name: "leeway 5m", edit: func(_ *testing.T, c *config.Config) { c.JWT.Leeway = 5 * time.Minute }},
		{name: "leeway over 5m", edit: func(_ *testing.T, c *config.Config) { c.JWT.Leeway = 6 * time.Minute }, want: "jwt.leeway: must be at most 5m0s"},
		{name: "bad api_key_claim", edit: func(_ *testing.T, c *config.Config) { c.JWT.APIKeyClaim = "clear" }, want: `jwt.api_key_claim: want sealed or plain, got "clear"`},
		{name: "plain api_key_claim", edit: func(_ *testing.T, c *config.Config) { c.JWT.APIKeyClaim = "plain" }},

		{name: "key set", edit: func(_ *testing.T, c *config.Config) {
			c.JWT.Keys = []config.Key{
				{KID: "a", Alg: "HS256", Secret: secret32},
				{KID: "b", Alg: "EdDSA", PrivateKeyFile: "b.pem", PrivateKeyPEM: testPEM},
			}
			c.JWT.SigningKey = "b"
		}},
		{name: "key without kid", edit: func(_ *testing.T, c *config.Config) {
			c.JWT.Keys = []config.Key{{Alg: "HS256", Secret: secret32}}
		}, want: "jwt.keys[0].kid: required"},
		{name: "duplicate kid", edit: func(_ *testing.T, c *config.Config) {
			c.JWT.Keys = []config.Key{{KID: "a", Alg: "HS256", Secret: secret32}, {KID: "a", Alg: "HS256", Secret: secret32}}
		}, want: `jwt.keys[1].kid: "a" is also the kid of jwt.keys[0]`},
		{name: "kid with a quote", edit: func(_ *testing.T, c *config.Config) {
			c.JWT.Keys = []config.Key{{KID: `a"b`, Alg: "HS256", Secret: secret32}}
		}, want: "jwt.keys[0].kid: key is invalid: kid must be 1 to 128 printable ASCII characters"},
		{name: "key without alg", edit: func(_ *testing.T, c *config.Config) {
			c.JWT.Keys = []config.Key{{KID: "a", Secret: secret32}}
		}, want: "jwt.keys[0].alg: required"},
		{name: "key with bad alg", edit: func(_ *testing.T, c *config.Config) {
			c.JWT.Keys = []config.Key{{KID: "a", Alg: "none", Secret: secret32}}
		}, want: `jwt.keys[0].alg: want HS256, HS384, HS512, EdDSA, ES256 or RS256, got "none"`},
		{name: "HMAC key without secret", edit: func(_ *testing.T, c *config.Config) {
			c.JWT.Keys = []config.Key{{KID: "a", Alg: "HS384"}}
		}, want: "jwt.keys[0]: an HS384 key needs secret or secret_file"},
		{name: "HMAC key with short secret", edit: func(_ *testing.T, c *config.Config) {
			c.JWT.Keys = []config.Key{{KID: "a", Alg: "HS384", Secret: secret32}}
		}, want: "jwt.keys[0].secret: must be at least 48 bytes for HS384, got 32"},
		{name: "HMAC key with private_key_file", edit: func(_ *testing.T, c *config.Config) {
			c.JWT.Keys = []config.Key{{KID: "a", Alg: "HS256", Secret: secret32, PrivateKeyFile: "a.pem"}}
		}, want: "jwt.keys[0].private_key_file: not used by HS256 keys"},
		{name: "asymmetric key with secret", edit: func(_ *testing.T, c *config.Config) {
			c.JWT.Keys = []config.Key{{KID: "a", Alg: "ES256", Secret: secret32, PrivateKeyFile: "a.pem", PrivateKeyPEM: testPEM}}
		}, want: "jwt.keys[0].secret: not used by ES256 keys; use private_key_file"},
		{name: "asymmetric key without private_key_file", edit: func(_ *testing.T, c *config.Config) {
			c.JWT.Keys = []config.Key{{KID: "a", Alg: "RS256"}}
		}, want: "jwt.keys[0].private_key_file: required for RS256 keys"},
		{name: "asymmetric key not read", edit: func(_ *testing.T, c *config.Config) {
			c.JWT.Keys = []config.Key{{KID: "a", Alg: "RS256", PrivateKeyFile: "a.pem"}}
		}, want: "jwt.keys[0].private_key_file: not read"},
		{name: "asymmetric key not PEM", edit: func(_ *testing.T, c *config.Config) {
			c.JWT.Keys = []config.Key{{KID: "a", Alg: "RS256", PrivateKeyFile: "a.pem", PrivateKeyPEM: "garbage"}}
		}, want: "jwt.keys[0].private_key_file: holds no PKCS#8"},
		{name: "keys with secret", edit: func(_ *testing.T, c *config.Config) {
			c.JWT.Secret = secret32
			c.JWT.Keys = []config.Key{{KID: "a", Alg: "HS256", Secret: secret32}}
		}, want: "jwt.keys: cannot be combined with jwt.secret"},
		{name: "signing_key without keys", edit: func(_ *testing.T, c *config.Config) { c.JWT.SigningKey = "a" }, want: "jwt.signing_key: set, but jwt.keys is empty"},
		{name: "signing_key not in keys", edit: func(_ *testing.T, c *config.Config) {
			c.JWT.Keys = []config.Key{{KID: "a", Alg: "HS256", Secret: secret32}}
			c.JWT.SigningKey = "b"
		}, want: `jwt.signing_key: no jwt.keys entry has kid "b"`},

		{name: "allow-list", edit: func(_ *testing.T, c *config.Config) {
			c.APIKeys.Allowed = []config.Secret{"plain-key", config.Secret("sha256:" + strings.Repeat("aB", 32))}
		}},
		{name: "empty allow-list entry", edit: func(_ *testing.T, c *config.Config) { c.APIKeys.Allowed = []config.Secret{"a", ""} }, want: "api_keys.allowed[1]: allowed API key entry is invalid: must not be empty"},
		{name: "short digest", edit: func(_ *testing.T, c *config.Config) {
			c.APIKeys.Allowed = []config.Secret{config.Secret("sha256:" + strings.Repeat("a", 63))}
		}, want: "api_keys.allowed[0]: allowed API key entry is invalid: a sha256: entry needs exactly 64 hex digits, got 63"},
		{name: "non-hex digest", edit: func(_ *testing.T, c *config.Config) {
			c.APIKeys.Allowed = []config.Secret{config.Secret("sha256:" + strings.Repeat("g", 64))}
		}, want: "api_keys.allowed[0]: allowed API key entry is invalid: a sha256: entry needs exactly 64 hex digits"},

		{name: "limits", edit: func(_ *testing.T, c *config.Config) {
			c.Limits.Default = config.LimitSet{Models: []string{"gpt-4o-mini"}, MaxOutputTokens: 512}
			c.Limits.Max = config.LimitSet{Models: []string{"gpt-4o*"}, Paths: []string{"/chat/"}, MaxOutputTokens: 2048, TotalTokens: 100000}
		}},
		{name: "redis URL", edit: func(_ *testing.T, c *config.Config) { c.Limits.RedisURL = "rediss://user:pw@redis:6380/1" }},
		{name: "redis URL without host", edit: func(_ *testing.T, c *config.Config) { c.Limits.RedisURL = "redis:///0" }, want: "limits.redis_url: invalid redis URL: no host"},
		{name: "redis URL of another scheme", edit: func(_ *testing.T, c *config.Config) { c.Limits.RedisURL = "tcp://redis:6379" }, want: "limits.redis_url: invalid redis URL: the scheme must be redis or rediss"},
		{name: "no local sessions", edit: func(_ *testing.T, c *config.Config) { c.Limits.MaxSessions = 0 }, want: "limits.max_sessions: must be from 1 to 10000000, got 0"},
		{name: "negative limit", edit: func(_ *testing.T, c *config.Config) { c.Limits.Max.RequestsPerMinute = -1 }, want: "limits.max.requests_per_minute: must be a whole number"},
		{name: "star in a model", edit: func(_ *testing.T, c *config.Config) { c.Limits.Default.Models = []string{"a", "gpt-*-mini"} }, want: "limits.default.models[1]: may hold * only at its end"},
		{name: "empty model pattern", edit: func(_ *testing.T, c *config.Config) { c.Limits.Max.Models = []string{""} }, want: "limits.max.models[0]: must not be empty"},
		{name: "unclean limit path", edit: func(_ *testing.T, c *config.Config) { c.Limits.Default.Paths = []string{"/chat/./x"} }, want: "limits.default.paths[0]: must be a clean path"},
		{name: "too many models", edit: func(_ *testing.T, c *config.Config) {
			c.Limits.Max.Models = strings.Split("a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", ",")
		}, want: "limits.max.models: must have at most 16 entries"},
		{name: "default above max", edit: func(_ *testing.T, c *config.Config) {
			c.Limits.Default.MaxOutputTokens = 4096
			c.Limits.Max.MaxOutputTokens = 1024
		}, want: "limits.default.max_output_tokens: must be at most 1024 here (limits.max)"},
		{name: "default model outside max", edit: func(_ *testing.T, c *config.Config) {
			c.Limits.Default.Models = []string{"claude-*"}
			c.Limits.Max.Models = []string{"claude-3-5-haiku"}
		}, want: "limits.default.models[0]: is outside the models allowed here (limits.max)"},
		{name: "default path outside max", edit: func(_ *testing.T, c *config.Config) {
			c.Limits.Default.Paths = []string{"/"}
			c.Limits.Max.Paths = []string{"/chat"}
		}, want: "limits.default.paths[0]: is outside the paths allowed here (limits.max)"},

		{name: "negative rate", edit: func(_ *testing.T, c *config.Config) { c.RateLimit.SessionsPerMinute = -1 }, want: "rate_limit.sessions_per_minute: must not be negative"},
		{name: "rate limit on", edit: func(_ *testing.T, c *config.Config) { c.RateLimit.SessionsPerMinute = 60 }},
		{name: "zero burst", edit: func(_ *testing.T, c *config.Config) { c.RateLimit.Burst = 0 }, want: "rate_limit.burst: must be at least 1, got 0"},
		{name: "bad log level", edit: func(_ *testing.T, c *config.Config) { c.Log.Level = "INFO" }, want: `log.level: want debug, info, warn or error, got "INFO"`},
		{name: "bad log format", edit: func(_ *testing.T, c *config.Config) { c.Log.Format = "xml" }, want: `log.format: want json or text, got "xml"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			tt.edit(t, &c)
			before := c
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate succeeded, want %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Validate = %q, want it to start with %q", err, tt.want)
			}
			if n := len(unwrapAll(err)); n != 1 {
				t.Errorf("Validate reported %d problems, want 1: %v", n, err)
			}
			if diff := cmp.Diff(before, c, cmpURL); diff != "" {
				t.Errorf("Validate changed the config (-before +after):\n%s", diff)
			}
		})
	}
}

// cmpURL compares URLs by their text; go-cmp cannot look inside url.Userinfo.
var cmpURL = cmp.Comparer(func(a, b *url.URL) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.String() == b.String()
})

// unwrapAll returns the errors joined in err (just err when it is not a join).
func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := config.Default()
	c.Server.Addr = ""
	c.JWT.Secret = "short-secret-value"
	c.JWT.TTL = 0
	c.APIKeys.Allowed = []config.Secret{""}
	c.Log.Level = "verbose"
	err := c.Validate()
	wantKeys := []string{"server.addr", "jwt.secret", "jwt.ttl", "api_keys.allowed[0]", "log.level"}
	errs := unwrapAll(err)
	if len(errs) != len(wantKeys) {
		t.Fatalf("Validate reported %d problems, want %d: %v", len(errs), len(wantKeys), err)
	}
	for i, key := range wantKeys {
		if !strings.HasPrefix(errs[i].Error(), key+": ") {
			t.Errorf("problem %d = %q, want it to name %s", i, errs[i], key)
		}
	}
	wantNoSecret(t, err.Error(), "short-secret-value")
}

func TestValidateNeverPrintsSecrets(t *testing.T) {
	const planted = "planted-secret"
	c := config.Default()
	c.JWT.Secret = planted
	c.JWT.SealSecret = planted + "-seal"
	c.JWT.Keys = []config.Key{
		{KID: "a", Alg: "HS512", Secret: planted + "-key"},
		{KID: "b", Alg: "EdDSA", Secret: planted + "-ed", PrivateKeyFile: "x", PrivateKeyPEM: planted + "-pem"},
	}
	c.APIKeys.Allowed = []config.Secret{"sha256:" + planted}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate succeeded, want errors")
	}
	wantNoSecret(t, err.Error(), planted)
	if n := len(unwrapAll(err)); n < 7 {
		t.Errorf("Validate reported %d problems, want at least 7: %v", n, err)
	}
}
