package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"os"
	"testing"
	"time"
)

var enc = base64.RawURLEncoding

const testAccessToken = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJl"

// testClock is a fixed instant tests move by hand.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

func newTestClock() *testClock { return &testClock{t: time.Unix(1_800_000_000, 0)} }

// testKey is a signing key with the name of the algorithm a proof uses it with.
type testKey struct {
	alg    string // as written in the header
	signer crypto.Signer
}

func newECKey(t testing.TB) testKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generating P-256 key: %v", err)
	}
	return testKey{alg: "ES256", signer: k}
}

func newEdKey(t testing.TB, alg string) testKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generating Ed25519 key: %v", err)
	}
	return testKey{alg: alg, signer: k}
}

// rsaKey reads a test-only RSA key from testdata (generating one in every test
// would be slow).
func rsaKey(t testing.TB, bits int) testKey {
	t.Helper()
	name := map[int]string{1024: "testdata/rsa1024.pem", 2048: "testdata/rsa2048.pem", 4096: "testdata/rsa4096.pem"}[bits]
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no PEM block", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatalf("parsing %s: %v", name, err)
	}
	return testKey{alg: "RS256", signer: k.(*rsa.PrivateKey)}
}

// keyFor returns a fresh key of one of the kinds the tables name.
func keyFor(t testing.TB, kind string) testKey {
	t.Helper()
	switch kind {
	case "ES256":
		return newECKey(t)
	case "EdDSA", "Ed25519":
		return newEdKey(t, kind)
	case "RS256":
		return rsaKey(t, 2048)
	}
	t.Fatalf("no test key of kind %q", kind)
	return testKey{}
}

// publicJWK returns the public JWK of k's public key, as a map tests can edit.
func publicJWK(t testing.TB, pub crypto.PublicKey) map[string]any {
	t.Helper()
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		b, err := p.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return map[string]any{"kty": "EC", "crv": "P-256", "x": enc.EncodeToString(b[1:33]), "y": enc.EncodeToString(b[33:])}
	case ed25519.PublicKey:
		return map[string]any{"kty": "OKP", "crv": "Ed25519", "x": enc.EncodeToString(p)}
	case *rsa.PublicKey:
		return map[string]any{"kty": "RSA", "n": enc.EncodeToString(p.N.Bytes()), "e": enc.EncodeToString(big.NewInt(int64(p.E)).Bytes())}
	}
	t.Fatalf("no JWK for %T", pub)
	return nil
}

// proofSpec is everything a proof is made of, each part editable by a test.
type proofSpec struct {
	key    testKey
	header map[string]any
	claims map[string]any
	// Edits of the encoded parts, each nil for none.
	editHeader  func([]byte) []byte // the header JSON, before encoding
	editClaims  func([]byte) []byte // the claims JSON, before encoding
	editSig     func([]byte) []byte // the signature bytes, after signing
	editCompact func(string) string // the whole proof, at the end
	signWith    crypto.Signer       // sign with this key instead of key (nil: key)
	derSig      bool                // ES256: sign in ASN.1 DER instead of r||s
}

// newSpec returns the spec of a proof that key makes for req at now, carrying the
// ath of token when token is not empty.
func newSpec(t testing.TB, key testKey, req Request, token string, now time.Time) *proofSpec {
	t.Helper()
	jti := make([]byte, 16)
	rand.Read(jti)
	s := &proofSpec{
		key:    key,
		header: map[string]any{"typ": "dpop+jwt", "alg": key.alg, "jwk": publicJWK(t, key.signer.Public())},
		claims: map[string]any{"jti": enc.EncodeToString(jti), "htm": req.Method, "htu": req.URL.String(), "iat": now.Unix()},
	}
	if token != "" {
		s.claims["ath"] = athOf(token)
	}
	return s
}

func athOf(token string) string {
	h := sha256.Sum256([]byte(token))
	return enc.EncodeToString(h[:])
}

// jwk returns the spec's jwk header member for editing.
func (s *proofSpec) jwk() map[string]any { return s.header["jwk"].(map[string]any) }

// clone returns a deep copy of s (maps included), for a test to fault.
func (s *proofSpec) clone() *proofSpec {
	c := *s
	c.header = cloneMap(s.header)
	c.claims = cloneMap(s.claims)
	return &c
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if mm, ok := v.(map[string]any); ok {
			v = cloneMap(mm)
		}
		out[k] = v
	}
	return out
}

// proof encodes and signs the spec.
func (s *proofSpec) proof(t testing.TB) string {
	t.Helper()
	hj, err := json.Marshal(s.header)
	if err != nil {
		t.Fatal(err)
	}
	cj, err := json.Marshal(s.claims)
	if err != nil {
		t.Fatal(err)
	}
	if s.editHeader != nil {
		hj = s.editHeader(hj)
	}
	if s.editClaims != nil {
		cj = s.editClaims(cj)
	}
	si := enc.EncodeToString(hj) + "." + enc.EncodeToString(cj)
	signer := s.signWith
	if signer == nil {
		signer = s.key.signer
	}
	sig := signProof(t, signer, si, s.derSig)
	if s.editSig != nil {
		sig = s.editSig(sig)
	}
	out := si + "." + enc.EncodeToString(sig)
	if s.editCompact != nil {
		out = s.editCompact(out)
	}
	return out
}

// signProof signs si as the JWS algorithm of signer's key type wants it.
func signProof(t testing.TB, signer crypto.Signer, si string, der bool) []byte {
	t.Helper()
	digest := sha256.Sum256([]byte(si))
	switch k := signer.(type) {
	case *ecdsa.PrivateKey:
		if der {
			sig, err := ecdsa.SignASN1(rand.Reader, k, digest[:])
			if err != nil {
				t.Fatal(err)
			}
			return sig
		}
		r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	case ed25519.PrivateKey:
		return ed25519.Sign(k, []byte(si))
	case *rsa.PrivateKey:
		sig, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	t.Fatalf("cannot sign with %T", signer)
	return nil
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("parsing %q: %v", s, err)
	}
	return u
}

func mustVerifier(t testing.TB, opts ...Option) *Verifier {
	t.Helper()
	v, err := NewVerifier(opts...)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func mustNonceSource(t testing.TB, secret string, window time.Duration) *NonceSource {
	t.Helper()
	ns, err := NewNonceSource([]byte(secret), window)
	if err != nil {
		t.Fatalf("NewNonceSource: %v", err)
	}
	return ns
}

// sentinels counts the refusal sentinels err wraps.
func sentinels(err error) int {
	n := 0
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			n++
		}
	}
	return n
}

// checkRefused fails t unless err wraps want and no other refusal sentinel.
func checkRefused(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
	if n := sentinels(err); n != 1 {
		t.Fatalf("error %q wraps %d refusal sentinels, want 1", err, n)
	}
}
