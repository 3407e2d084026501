package token

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
)

var fingerprintShape = regexp.MustCompile(`^[0-9a-f]{16}$`)

// TestFingerprintIsKeyed checks the API-key fingerprint's properties: the shape
// of the unkeyed one it replaces, but not its value; the same for every session of
// a key within a deployment (replicas built from the same secret agree); and
// different under another secret, so it tells nothing outside the deployment.
func TestFingerprintIsKeyed(t *testing.T) {
	ks := mustKeySet(t, "", mustHMACKey(t, "k1", HS256, testSecret))
	replica := mustKeySet(t, "", mustHMACKey(t, "k1", HS256, testSecret))
	other := mustKeySet(t, "", mustHMACKey(t, "k1", HS256, []byte(strings.Repeat("x", 32))))

	fp := ks.Fingerprint(testAPIKey)
	if !fingerprintShape.MatchString(fp) {
		t.Fatalf("fingerprint %q, want 16 hex digits", fp)
	}
	if fp == Fingerprint(testAPIKey) {
		t.Error("the API-key fingerprint is the unkeyed SHA-256 prefix, which anyone can recompute")
	}
	if got := replica.Fingerprint(testAPIKey); got != fp {
		t.Errorf("a replica with the same secret computes %q, want %q", got, fp)
	}
	if got := other.Fingerprint(testAPIKey); got == fp {
		t.Error("another secret gives the same fingerprint")
	}
	if got := ks.Fingerprint(testAPIKey + "x"); got == fp {
		t.Error("another API key gives the same fingerprint")
	}

	iss := mustIssuer(t, ks)
	if got := iss.Fingerprint(testAPIKey); got != fp {
		t.Errorf("Issuer.Fingerprint = %q, want the key set's %q", got, fp)
	}
	first := mustIssue(t, iss, Params{APIKey: testAPIKey}).Claims
	second := mustIssue(t, iss, Params{APIKey: testAPIKey}).Claims
	if first.APIKeyFingerprint != fp || second.APIKeyFingerprint != fp || first.SessionID == second.SessionID {
		t.Errorf("two sessions of one key carry akf %q and %q, want %q in both", first.APIKeyFingerprint, second.APIKeyFingerprint, fp)
	}
	if first.Subject != "apikey:"+fp {
		t.Errorf("default subject = %q, want apikey:%s", first.Subject, fp)
	}
}

// TestFingerprintDerivation pins the derivation, computed here independently:
// HMAC-SHA256 of the API key under HKDF-SHA256(seal secret, no salt,
// "jwtgate/v1 api-key fingerprint"), first 8 bytes in hex. Without a seal secret
// the key's own material is the secret: the HMAC secret, or the PKCS#8 DER.
func TestFingerprintDerivation(t *testing.T) {
	want := func(secret []byte) string {
		key, err := hkdf.Key(sha256.New, secret, nil, "jwtgate/v1 api-key fingerprint", 32)
		if err != nil {
			t.Fatal(err)
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(testAPIKey))
		return hex.EncodeToString(m.Sum(nil)[:8])
	}
	seal := []byte(strings.Repeat("s", 32))
	hs := mustHMACKey(t, "hs", HS256, testSecret)
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := NewPrivateKey("ed", EdDSA, priv)
	if err != nil {
		t.Fatal(err)
	}
	edDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}

	if got := mustKeySet(t, "", hs).Fingerprint(testAPIKey); got != want(testSecret) {
		t.Errorf("HMAC key without a seal secret: %q, want %q", got, want(testSecret))
	}
	if got := mustKeySet(t, "", ed).Fingerprint(testAPIKey); got != want(edDER) {
		t.Errorf("Ed25519 key without a seal secret: %q, want %q", got, want(edDER))
	}
	shared, err := NewKeySet("ed", []*Key{hs, ed}, WithSealSecret(seal))
	if err != nil {
		t.Fatal(err)
	}
	if got := shared.Fingerprint(testAPIKey); got != want(seal) {
		t.Errorf("with a seal secret: %q, want %q", got, want(seal))
	}
}

// TestFingerprintFollowsTheSigningKey verifies tokens of two keys in one set: each
// token's akf is checked under the key that signed it, and a seal secret gives
// every key the same fingerprint, so it survives a rotation.
func TestFingerprintFollowsTheSigningKey(t *testing.T) {
	a := mustHMACKey(t, "a", HS256, testSecret)
	b := mustHMACKey(t, "b", HS256, []byte(strings.Repeat("b", 32)))
	for _, tt := range []struct {
		name     string
		opts     []KeySetOption
		wantSame bool
	}{
		{"own seal per key", nil, false},
		{"shared seal secret", []KeySetOption{WithSealSecret([]byte(strings.Repeat("s", 32)))}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			signA, err := NewKeySet("a", []*Key{a, b}, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			signB, err := NewKeySet("b", []*Key{a, b}, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			v := mustVerifier(t, signA)
			for _, ks := range []*KeySet{signA, signB} {
				tok := mustIssue(t, mustIssuer(t, ks), Params{APIKey: testAPIKey})
				c, err := v.Verify(t.Context(), tok.Token)
				if err != nil {
					t.Fatalf("token of %s: %v", ks.SigningKey().ID(), err)
				}
				if c.APIKeyFingerprint != ks.Fingerprint(testAPIKey) {
					t.Errorf("token of %s: akf %q, want %q", ks.SigningKey().ID(), c.APIKeyFingerprint, ks.Fingerprint(testAPIKey))
				}
			}
			if same := signA.Fingerprint(testAPIKey) == signB.Fingerprint(testAPIKey); same != tt.wantSame {
				t.Errorf("fingerprints under a and b equal: %v, want %v", same, tt.wantSame)
			}
		})
	}
}
