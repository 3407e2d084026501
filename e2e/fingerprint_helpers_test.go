package e2e

import (
	"regexp"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/token"
)

var fingerprintShape = regexp.MustCompile(`^[0-9a-f]{16}$`)

// keyFingerprint is the API-key fingerprint tokens signed by k carry when no
// jwt.seal_secret is set: keyed by k's material, so a test knows it only by
// holding the same key.
func keyFingerprint(t *testing.T, k *token.Key, apiKey string) string {
	t.Helper()
	ks, err := token.NewKeySet("", []*token.Key{k})
	if err != nil {
		t.Fatal(err)
	}
	return ks.Fingerprint(apiKey)
}

// secretFingerprint is keyFingerprint for the single HS256 jwt.secret.
func secretFingerprint(t *testing.T, secret, apiKey string) string {
	t.Helper()
	k, err := token.NewHMACKey("", token.HS256, []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return keyFingerprint(t, k, apiKey)
}

// checkFingerprint fails unless fp looks like an API-key fingerprint and is not
// the unkeyed SHA-256 prefix of apiKey, which a token holder could test guesses
// of a weak key against.
func checkFingerprint(t *testing.T, fp, apiKey string) {
	t.Helper()
	if !fingerprintShape.MatchString(fp) {
		t.Errorf("api_key_fingerprint %q, want 16 hex digits", fp)
	}
	if fp == token.Fingerprint(apiKey) {
		t.Errorf("api_key_fingerprint is the unkeyed SHA-256 prefix of the key")
	}
}
