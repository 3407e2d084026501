package token

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
)

// rsaKeys caches generated RSA keys: generation is slow and tests only need a few.
var rsaKeys = struct {
	sync.Mutex
	m map[int]*rsa.PrivateKey
}{m: map[int]*rsa.PrivateKey{}}

func testRSAKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	rsaKeys.Lock()
	defer rsaKeys.Unlock()
	if k, ok := rsaKeys.m[bits]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	rsaKeys.m[bits] = k
	return k
}

func testSigners(t testing.TB) map[string]crypto.Signer {
	t.Helper()
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]crypto.Signer{EdDSA: ed, ES256: ec, RS256: testRSAKey(t, 2048)}
}

func pemOf(t testing.TB, s crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestAsymmetricRoundTrip(t *testing.T) {
	for alg, signer := range testSigners(t) {
		t.Run(alg, func(t *testing.T) {
			k, err := ParsePrivateKeyPEM("a1", "", pemOf(t, signer))
			if err != nil {
				t.Fatalf("ParsePrivateKeyPEM: %v", err)
			}
			if k.Alg() != alg {
				t.Fatalf("inferred alg %s, want %s", k.Alg(), alg)
			}
			ks := mustKeySet(t, "", k)
			tok := mustIssue(t, mustIssuer(t, ks), Params{APIKey: testAPIKey})
			c, err := mustVerifier(t, ks).Verify(t.Context(), tok.Token)
			if err != nil || c.APIKey != testAPIKey || c.KeyID != "a1" {
				t.Fatalf("Verify = %v, %v", c, err)
			}

			doc, err := ks.JWKS()
			if err != nil {
				t.Fatal(err)
			}
			var set struct {
				Keys []map[string]string `json:"keys"`
			}
			if err := json.Unmarshal(doc, &set); err != nil || len(set.Keys) != 1 {
				t.Fatalf("JWKS %s: %v", doc, err)
			}
			j := set.Keys[0]
			if j["kid"] != "a1" || j["alg"] != alg || j["use"] != "sig" {
				t.Errorf("JWK = %v", j)
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
				if _, ok := j[private]; ok {
					t.Errorf("JWK carries private member %q", private)
				}
			}
			if got := publicFromJWK(t, j); !got.(interface{ Equal(crypto.PublicKey) bool }).Equal(signer.Public()) {
				t.Errorf("JWK does not round-trip to the public key")
			}

			// Algorithm confusion: HS256 "signed" with the public key's bytes as the
			// HMAC secret, under the asymmetric key's kid.
			pubDER, _ := x509.MarshalPKIXPublicKey(signer.Public())
			pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
			_, payload, _ := parts(t, tok.Token)
			for _, secret := range [][]byte{pubDER, pubPEM} {
				forged := hmacSign(HS256, secret, `{"alg":"HS256","kid":"a1","typ":"JWT"}`, payload)
				if _, err := mustVerifier(t, ks).Verify(t.Context(), forged); !errors.Is(err, ErrTokenAlgorithm) {
					t.Errorf("algorithm confusion: err = %v, want ErrTokenAlgorithm", err)
				}
			}
		})
	}
}

func publicFromJWK(t *testing.T, j map[string]string) crypto.PublicKey {
	t.Helper()
	dec := func(s string) []byte {
		b, err := enc.DecodeString(s)
		if err != nil {
			t.Fatalf("JWK member not base64url: %v", err)
		}
		return b
	}
	switch j["kty"] {
	case "OKP":
		return ed25519.PublicKey(dec(j["x"]))
	case "EC":
		pt := append(append([]byte{4}, dec(j["x"])...), dec(j["y"])...)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt)
		if err != nil {
			t.Fatal(err)
		}
		return pub
	case "RSA":
		n, e := new(big.Int).SetBytes(dec(j["n"])), new(big.Int).SetBytes(dec(j["e"]))
		return &rsa.PublicKey{N: n, E: int(e.Int64())}
	}
	t.Fatalf("unknown kty %q", j["kty"])
	return nil
}

func TestES256ZeroSignatureRefused(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k, err := NewPrivateKey("e1", ES256, ec)
	if err != nil {
		t.Fatal(err)
	}
	ks := mustKeySet(t, "", k)
	tok := mustIssue(t, mustIssuer(t, ks), Params{APIKey: testAPIKey})
	si := tok.Token[:strings.LastIndexByte(tok.Token, '.')]
	forged := si + "." + enc.EncodeToString(make([]byte, 64)) // r = s = 0
	if _, err := mustVerifier(t, ks).Verify(t.Context(), forged); !errors.Is(err, ErrTokenSignatureInvalid) {
		t.Errorf("r = s = 0: err = %v, want ErrTokenSignatureInvalid", err)
	}
}

func TestKeyConstructors(t *testing.T) {
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	tests := []struct {
		name    string
		make    func() (*Key, error)
		wantErr error
	}{
		{"HS256 31 bytes", func() (*Key, error) { return NewHMACKey("k", HS256, make([]byte, 31)) }, ErrKeyTooShort},
		{"HS256 32 bytes", func() (*Key, error) { return NewHMACKey("k", HS256, make([]byte, 32)) }, nil},
		{"HS384 47 bytes", func() (*Key, error) { return NewHMACKey("k", HS384, make([]byte, 47)) }, ErrKeyTooShort},
		{"HS512 64 bytes", func() (*Key, error) { return NewHMACKey("k", HS512, make([]byte, 64)) }, nil},
		{"HMAC with RS256", func() (*Key, error) { return NewHMACKey("k", RS256, make([]byte, 64)) }, ErrAlgUnsupported},
		{"kid with space", func() (*Key, error) { return NewHMACKey("a b", HS256, make([]byte, 32)) }, ErrKeyInvalid},
		{"kid too long", func() (*Key, error) { return NewHMACKey(strings.Repeat("k", 129), HS256, make([]byte, 32)) }, ErrKeyInvalid},
		{"RSA 1024", func() (*Key, error) { return NewPrivateKey("r", "", testRSAKey(t, 1024)) }, ErrKeyTooShort},
		{"P-384 for ES256", func() (*Key, error) { return NewPrivateKey("e", ES256, ec384) }, ErrKeyInvalid},
		{"ES256 key as EdDSA", func() (*Key, error) {
			ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			return NewPrivateKey("e", EdDSA, ec)
		}, ErrAlgUnsupported},
		{"PEM garbage", func() (*Key, error) { return ParsePrivateKeyPEM("p", "", []byte("not pem")) }, ErrKeyInvalid},
		{"PEM public key", func() (*Key, error) {
			return ParsePrivateKeyPEM("p", "", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}))
		}, ErrKeyInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.make()
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestHMACKeyDefaultKidIsStable(t *testing.T) {
	a := mustHMACKey(t, "", HS256, testSecret)
	b := mustHMACKey(t, "", HS256, testSecret)
	c := mustHMACKey(t, "", HS256, []byte(strings.Repeat("x", 32)))
	if a.ID() != b.ID() || a.ID() == c.ID() || strings.Contains(a.ID(), string(testSecret)) {
		t.Errorf("default kids: %q %q %q", a.ID(), b.ID(), c.ID())
	}
}

func TestKeySetRotation(t *testing.T) {
	old := mustHMACKey(t, "old", HS256, testSecret)
	next := mustHMACKey(t, "new", HS256, []byte(strings.Repeat("n", 32)))

	before := mustKeySet(t, "old", old)
	oldTok := mustIssue(t, mustIssuer(t, before), Params{APIKey: testAPIKey})

	both := mustKeySet(t, "new", old, next)
	newTok := mustIssue(t, mustIssuer(t, both), Params{APIKey: testAPIKey})
	vb := mustVerifier(t, both)
	for name, tok := range map[string]string{"old": oldTok.Token, "new": newTok.Token} {
		if _, err := vb.Verify(t.Context(), tok); err != nil {
			t.Errorf("both keys: %s token refused: %v", name, err)
		}
	}

	after := mustVerifier(t, mustKeySet(t, "new", next))
	if _, err := after.Verify(t.Context(), oldTok.Token); !errors.Is(err, ErrTokenUnknownKey) {
		t.Errorf("old key removed: err = %v, want ErrTokenUnknownKey", err)
	}
	if _, err := after.Verify(t.Context(), newTok.Token); err != nil {
		t.Errorf("old key removed: new token refused: %v", err)
	}
	if doc, _ := both.JWKS(); string(doc) != `{"keys":[]}` {
		t.Errorf("HMAC-only JWKS = %s", doc)
	}
}

func TestKeySetErrors(t *testing.T) {
	k := mustHMACKey(t, "k1", HS256, testSecret)
	if _, err := NewKeySet("", nil); !errors.Is(err, ErrKeySetInvalid) {
		t.Errorf("empty set: %v", err)
	}
	if _, err := NewKeySet("", []*Key{k, k}); !errors.Is(err, ErrKeySetInvalid) {
		t.Errorf("duplicate kid: %v", err)
	}
	if _, err := NewKeySet("nope", []*Key{k}); !errors.Is(err, ErrKeySetInvalid) {
		t.Errorf("unknown signing kid: %v", err)
	}
	if _, err := NewKeySet("", []*Key{k}, WithSealSecret(make([]byte, 31))); !errors.Is(err, ErrSealSecretShort) {
		t.Errorf("short seal secret: %v", err)
	}
}

func TestSealSecretSharedAcrossKeys(t *testing.T) {
	seal := []byte(strings.Repeat("s", 32))
	a := mustHMACKey(t, "a", HS256, testSecret)
	b := mustHMACKey(t, "b", HS256, []byte(strings.Repeat("b", 32)))
	ks, err := NewKeySet("a", []*Key{a, b}, WithSealSecret(seal))
	if err != nil {
		t.Fatal(err)
	}
	ka, _ := ks.Lookup("a")
	kb, _ := ks.Lookup("b")
	sealed := ka.seal.seal(testAPIKey, "jti")
	if got, err := kb.seal.open(sealed, "jti"); err != nil || got != testAPIKey {
		t.Errorf("seal secret not shared: %v", err)
	}
	// Without a seal secret, each key seals under its own derived key.
	if _, err := b.seal.open(a.seal.seal(testAPIKey, "jti"), "jti"); !errors.Is(err, ErrTokenAPIKeyInvalid) {
		t.Errorf("per-key seals opened with another key: %v", err)
	}
	// The configured key objects are not modified by the set.
	if _, err := a.seal.open(sealed, "jti"); err == nil {
		t.Errorf("NewKeySet changed the caller's key")
	}
}

func TestHMACRoundTrip(t *testing.T) {
	for _, alg := range []string{HS256, HS384, HS512} {
		t.Run(alg, func(t *testing.T) {
			secret := []byte(strings.Repeat("s", 64))
			ks := mustKeySet(t, "", mustHMACKey(t, "h", alg, secret))
			tok := mustIssue(t, mustIssuer(t, ks), Params{APIKey: testAPIKey})
			v := mustVerifier(t, ks)
			// Verify concurrently: the pooled HMAC states must not be shared.
			errs := make(chan error, 8)
			for range 8 {
				go func() { _, err := v.Verify(t.Context(), tok.Token); errs <- err }()
			}
			for range 8 {
				if err := <-errs; err != nil {
					t.Fatalf("Verify: %v", err)
				}
			}
			other := mustVerifier(t, mustKeySet(t, "", mustHMACKey(t, "h", alg, []byte(strings.Repeat("o", 64)))))
			if _, err := other.Verify(t.Context(), tok.Token); !errors.Is(err, ErrTokenSignatureInvalid) {
				t.Errorf("other secret: err = %v, want ErrTokenSignatureInvalid", err)
			}
			// A signature of the right length for another hash is refused too.
			short := tok.Token[:strings.LastIndexByte(tok.Token, '.')+1] + enc.EncodeToString(hmacSum(HS256, secret, tok.Token[:strings.LastIndexByte(tok.Token, '.')]))
			if alg != HS256 {
				if _, err := v.Verify(t.Context(), short); !errors.Is(err, ErrTokenSignatureInvalid) {
					t.Errorf("HS256-sized MAC under %s: err = %v", alg, err)
				}
			}
		})
	}
}

func TestParsePrivateKeyPEMRefusesNonSigners(t *testing.T) {
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(x)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if _, err := ParsePrivateKeyPEM("x", "", pemBytes); !errors.Is(err, ErrKeyInvalid) {
		t.Errorf("X25519 key: err = %v, want ErrKeyInvalid", err)
	}
}
