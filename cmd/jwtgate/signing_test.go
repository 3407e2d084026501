package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/pkg/config"
	"github.com/jwtgate/jwtgate/pkg/token"
)

func newTestLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

func mustEd25519PEM(t *testing.T) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func TestBuildTokens(t *testing.T) {
	secret := newSecret(t)
	other := newSecret(t)
	seal := newSecret(t)
	edPEM := mustEd25519PEM(t)

	tests := []struct {
		name       string
		edit       func(*config.Config)
		wantKID    string // "" skips the check
		wantAlg    string
		wantKeys   int
		wantWarn   bool
		wantPlain  bool
		forbidLogs []string
	}{
		{
			name:     "random key",
			edit:     func(*config.Config) {},
			wantAlg:  token.HS256,
			wantKeys: 1,
			wantWarn: true,
		},
		{
			name:       "secret",
			edit:       func(c *config.Config) { c.JWT.Secret = config.Secret(secret) },
			wantKID:    "hs-" + token.Fingerprint(secret),
			wantAlg:    token.HS256,
			wantKeys:   1,
			forbidLogs: []string{secret},
		},
		{
			name: "secret with kid, HS384 and plain claim",
			edit: func(c *config.Config) {
				c.JWT.Secret = config.Secret(secret)
				c.JWT.KeyID = "main"
				c.JWT.Algorithm = token.HS384
				c.JWT.APIKeyClaim = "plain"
			},
			wantKID:    "main",
			wantAlg:    token.HS384,
			wantKeys:   1,
			wantPlain:  true,
			forbidLogs: []string{secret},
		},
		{
			name: "key set signing with the second key, seal secret",
			edit: func(c *config.Config) {
				c.JWT.Secret = config.Secret(other) // ignored: keys win
				c.JWT.Keys = []config.Key{
					{KID: "old", Alg: token.HS256, Secret: config.Secret(secret)},
					{KID: "ed", Alg: token.EdDSA, PrivateKeyPEM: config.Secret(edPEM)},
				}
				c.JWT.SigningKey = "ed"
				c.JWT.SealSecret = config.Secret(seal)
			},
			wantKID:    "ed",
			wantAlg:    token.EdDSA,
			wantKeys:   2,
			forbidLogs: []string{secret, other, seal, strings.Split(edPEM, "\n")[1]},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			tt.edit(&cfg)
			logger, logs := newTestLogger()
			ks, iss, ver, err := buildTokens(cfg, logger)
			if err != nil {
				t.Fatalf("buildTokens: %v", err)
			}
			sk := ks.SigningKey()
			if tt.wantKID != "" && sk.ID() != tt.wantKID {
				t.Errorf("signing kid = %q, want %q", sk.ID(), tt.wantKID)
			}
			if sk.Alg() != tt.wantAlg {
				t.Errorf("signing alg = %q, want %q", sk.Alg(), tt.wantAlg)
			}
			if n := len(ks.Keys()); n != tt.wantKeys {
				t.Errorf("key set has %d keys, want %d", n, tt.wantKeys)
			}

			issued, err := iss.Issue(t.Context(), token.Params{APIKey: testAPIKey})
			if err != nil {
				t.Fatal(err)
			}
			claims, err := ver.Verify(t.Context(), issued.Token)
			if err != nil {
				t.Fatalf("Verify of a fresh token: %v", err)
			}
			if claims.APIKey != testAPIKey {
				t.Error("verified API key differs from the issued one")
			}
			if got := issued.Claims.ExpiresAt.Sub(issued.Claims.IssuedAt); got != cfg.JWT.TTL {
				t.Errorf("token lifetime = %s, want jwt.ttl %s", got, cfg.JWT.TTL)
			}
			hasPlain := strings.Contains(decodePayload(t, issued.Token), testAPIKey)
			if hasPlain != tt.wantPlain {
				t.Errorf("payload holds the API key in clear: %v, want %v", hasPlain, tt.wantPlain)
			}

			out := logs.String()
			if got := strings.Contains(out, `"level":"WARN"`); got != tt.wantWarn {
				t.Errorf("warning logged: %v, want %v\n%s", got, tt.wantWarn, out)
			}
			if tt.wantWarn && !strings.Contains(out, "will not survive a restart") {
				t.Errorf("warning does not say tokens die with the process:\n%s", out)
			}
			for _, want := range []string{`"msg":"signing key"`, `"kid":"` + sk.ID() + `"`, `"fingerprint":"` + sk.Fingerprint() + `"`} {
				if !strings.Contains(out, want) {
					t.Errorf("logs lack %s:\n%s", want, out)
				}
			}
			assertNotContains(t, "logs", out, tt.forbidLogs...)
		})
	}
}

func TestBuildTokensOptions(t *testing.T) {
	cfg := config.Default()
	cfg.JWT.Secret = config.Secret(newSecret(t))
	cfg.JWT.TTL = 2 * time.Minute
	cfg.JWT.MaxTTL = 5 * time.Minute
	cfg.JWT.NotBefore = time.Now().Add(time.Hour)
	logger, _ := newTestLogger()
	_, iss, ver, err := buildTokens(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	if iss.DefaultTTL() != 2*time.Minute || iss.MaxTTL() != 5*time.Minute {
		t.Errorf("ttl, max ttl = %s, %s; want 2m, 5m", iss.DefaultTTL(), iss.MaxTTL())
	}
	issued, err := iss.Issue(t.Context(), token.Params{APIKey: testAPIKey, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got := issued.Claims.ExpiresAt.Sub(issued.Claims.IssuedAt); got != 5*time.Minute {
		t.Errorf("lifetime of a 1h request = %s, want the 5m cap", got)
	}
	// jwt.not_before in the future revokes everything issued now.
	if _, err := ver.Verify(t.Context(), issued.Token); !errors.Is(err, token.ErrTokenRevoked) {
		t.Errorf("Verify = %v, want %v", err, token.ErrTokenRevoked)
	}
}

// TestBuildTokensVerifierMaxTTL checks that jwt.max_ttl reaches the verifier: a
// token signed by a configured key but living longer than jwt.max_ttl (plus the
// leeway) is refused, as only someone holding the key outside jwtgate can make one.
func TestBuildTokensVerifierMaxTTL(t *testing.T) {
	cfg := config.Default()
	cfg.JWT.Secret = config.Secret(newSecret(t))
	cfg.JWT.MaxTTL = 30 * time.Minute
	logger, _ := newTestLogger()
	ks, _, ver, err := buildTokens(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	// An issuer on the same key that allows an hour: what a leaked key could sign.
	rogue, err := token.NewIssuer(ks, cfg.JWT.Issuer, cfg.JWT.Audience, token.WithMaxTTL(time.Hour), token.WithTTL(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	long, err := rogue.Issue(t.Context(), token.Params{APIKey: testAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ver.Verify(t.Context(), long.Token); !errors.Is(err, token.ErrTokenLifetime) {
		t.Errorf("a 1h token under jwt.max_ttl 30m: Verify = %v, want %v", err, token.ErrTokenLifetime)
	}
	short, err := rogue.Issue(t.Context(), token.Params{APIKey: testAPIKey, TTL: 30 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ver.Verify(t.Context(), short.Token); err != nil {
		t.Errorf("a 30m token under jwt.max_ttl 30m: Verify = %v, want nil", err)
	}
}

func TestBuildTokensErrors(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*config.Config)
		wantErr error
		wantKey string // the configuration key the error names
	}{
		{
			name:    "short secret",
			edit:    func(c *config.Config) { c.JWT.Secret = "too-short" },
			wantErr: token.ErrKeyTooShort,
			wantKey: "jwt.secret",
		},
		{
			name: "HS512 with a 32-byte secret",
			edit: func(c *config.Config) {
				c.JWT.Secret = config.Secret(strings.Repeat("k", 32))
				c.JWT.Algorithm = token.HS512
			},
			wantErr: token.ErrKeyTooShort,
			wantKey: "jwt.secret",
		},
		{
			name: "bad PEM",
			edit: func(c *config.Config) {
				c.JWT.Keys = []config.Key{{KID: "ed", Alg: token.EdDSA, PrivateKeyPEM: "not pem"}}
			},
			wantErr: token.ErrKeyInvalid,
			wantKey: "jwt.keys[0]",
		},
		{
			name: "unknown signing key",
			edit: func(c *config.Config) {
				c.JWT.Keys = []config.Key{{KID: "a", Alg: token.HS256, Secret: config.Secret(strings.Repeat("k", 32))}}
				c.JWT.SigningKey = "b"
			},
			wantErr: token.ErrKeySetInvalid,
			wantKey: "jwt.signing_key",
		},
		{
			name: "short seal secret",
			edit: func(c *config.Config) {
				c.JWT.Secret = config.Secret(strings.Repeat("k", 32))
				c.JWT.SealSecret = "x7Qp9z"
			},
			wantErr: token.ErrSealSecretShort,
			wantKey: "jwt.seal_secret",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			tt.edit(&cfg)
			logger, _ := newTestLogger()
			_, _, _, err := buildTokens(cfg, logger)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantKey) {
				t.Errorf("error = %q, want it to name %s", err, tt.wantKey)
			}
			assertNotContains(t, "error", err.Error(), string(cfg.JWT.Secret), string(cfg.JWT.SealSecret))
		})
	}
}

func decodePayload(t *testing.T, raw string) string {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	b, err := decodeSegment(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
