package main

import (
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/pkg/config"
)

// TestDPoPNonceSecret: replicas with the same keys make the same nonces without
// a dpop.nonce_secret, each source of the secret takes precedence over the next,
// and with nothing configured the process's own random secret is used.
func TestDPoPNonceSecret(t *testing.T) {
	const (
		secretA = "replica-secret-A-0123456789abcdef0123"
		secretB = "replica-secret-B-0123456789abcdef0123"
	)
	now := time.Unix(1_800_000_000, 0)
	nonce := func(t *testing.T, edit func(c *config.Config), random []byte) string {
		t.Helper()
		c := config.Default()
		c.DPoP.RequireNonce = true
		edit(&c)
		dc, err := dpopConfig(c, random)
		if err != nil {
			t.Fatal(err)
		}
		if dc.Nonces == nil {
			t.Fatal("no nonce source with dpop.require_nonce")
		}
		return dc.Nonces.Nonce(now)
	}
	r1, r2 := newRandomNonceSecret(), newRandomNonceSecret()
	secret := func(s string) func(*config.Config) { return func(c *config.Config) { c.JWT.Secret = config.Secret(s) } }
	if nonce(t, secret(secretA), r1) != nonce(t, secret(secretA), r2) {
		t.Error("two replicas with the same jwt.secret make different nonces")
	}
	if nonce(t, secret(secretA), r1) == nonce(t, secret(secretB), r1) {
		t.Error("different jwt.secret values make the same nonce")
	}
	seal := func(c *config.Config) { c.JWT.Secret, c.JWT.SealSecret = secretA, secretB }
	if nonce(t, seal, r1) != nonce(t, secret(secretB), r1) {
		t.Error("jwt.seal_secret does not come before jwt.secret")
	}
	own := func(c *config.Config) { c.JWT.SealSecret, c.DPoP.NonceSecret = secretA, secretB }
	if nonce(t, own, r1) != nonce(t, secret(secretB), r1) {
		t.Error("dpop.nonce_secret does not come first")
	}
	keys := func(signing string) func(*config.Config) {
		return func(c *config.Config) {
			c.JWT.Keys = []config.Key{{KID: "a", Alg: "HS256", Secret: secretA}, {KID: "b", Alg: "HS256", Secret: secretB}}
			c.JWT.SigningKey = signing
		}
	}
	if nonce(t, keys(""), r1) != nonce(t, secret(secretA), r1) || nonce(t, keys("b"), r1) != nonce(t, secret(secretB), r1) {
		t.Error("jwt.keys: the nonce secret is not the signing key's")
	}
	if nonce(t, func(*config.Config) {}, r1) == nonce(t, func(*config.Config) {}, r2) {
		t.Error("without any secret, two processes make the same nonce")
	}
	// A nonce never is the secret, or any part of it.
	if n := nonce(t, secret(secretA), r1); strings.Contains(secretA, n) || strings.Contains(n, secretA) {
		t.Error("the nonce holds the secret")
	}
}

func TestDPoPConfig(t *testing.T) {
	c := config.Default()
	c.DPoP.Required, c.DPoP.MaxAge, c.DPoP.ReplayCacheSize, c.JWT.Leeway = true, 42*time.Second, 7, 3*time.Second
	dc, err := dpopConfig(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !dc.Required || dc.MaxAge != 42*time.Second || dc.ReplayCacheSize != 7 || dc.Leeway != 3*time.Second || dc.Nonces != nil {
		t.Errorf("dpopConfig = %+v", dc)
	}
}
