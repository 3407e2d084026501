package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"strings"
	"testing"
	"time"
)

const (
	testIssuer   = "jwtgate-test"
	testAudience = "jwtgate-test-aud"
	testAPIKey   = "sk-test-0123456789abcdefghijklmnopqrstuvwxyz"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-test-secret")

// testClock is a fixed instant tests move by hand.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

func newTestClock() *testClock { return &testClock{t: time.Unix(1_800_000_000, 0)} }

// testFingerprint is the API-key fingerprint of apiKey under any key made from
// testSecret without a seal secret (the tests' k1): the seal is derived from the
// secret alone.
func testFingerprint(apiKey string) string {
	s, err := newSealer(testSecret)
	if err != nil {
		panic(err)
	}
	return s.fingerprint(apiKey)
}

func mustHMACKey(t testing.TB, kid, alg string, secret []byte) *Key {
	t.Helper()
	k, err := NewHMACKey(kid, alg, secret)
	if err != nil {
		t.Fatalf("NewHMACKey: %v", err)
	}
	return k
}

func mustKeySet(t testing.TB, signing string, keys ...*Key) *KeySet {
	t.Helper()
	ks, err := NewKeySet(signing, keys)
	if err != nil {
		t.Fatalf("NewKeySet: %v", err)
	}
	return ks
}

func mustIssuer(t testing.TB, ks *KeySet, opts ...IssuerOption) *Issuer {
	t.Helper()
	i, err := NewIssuer(ks, testIssuer, testAudience, opts...)
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	return i
}

func mustVerifier(t testing.TB, ks *KeySet, opts ...VerifierOption) *Verifier {
	t.Helper()
	v, err := NewVerifier(ks, testIssuer, testAudience, opts...)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func mustIssue(t testing.TB, i *Issuer, p Params) *Issued {
	t.Helper()
	tok, err := i.Issue(t.Context(), p)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return tok
}

var enc = base64.RawURLEncoding

// hmacSign signs header.payload (given as raw JSON) with an HMAC of alg.
func hmacSign(alg string, secret []byte, header, payload string) string {
	si := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	return si + "." + enc.EncodeToString(hmacSum(alg, secret, si))
}

func hmacSum(alg string, secret []byte, si string) []byte {
	var h func() hash.Hash
	switch alg {
	case "HS384":
		h = sha512.New384
	case "HS512":
		h = sha512.New
	default:
		h = sha256.New
	}
	m := hmac.New(h, secret)
	m.Write([]byte(si))
	return m.Sum(nil)
}

// parts splits a compact token and decodes its header and payload.
func parts(t testing.TB, tok string) (header, payload string, sig []byte) {
	t.Helper()
	p := strings.Split(tok, ".")
	if len(p) != 3 {
		t.Fatalf("token has %d parts", len(p))
	}
	h, err1 := enc.DecodeString(p[0])
	pl, err2 := enc.DecodeString(p[1])
	s, err3 := enc.DecodeString(p[2])
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatalf("decoding token parts: %v %v %v", err1, err2, err3)
	}
	return string(h), string(pl), s
}
