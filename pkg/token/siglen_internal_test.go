package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"
)

// TestSignatureLen checks the length a token's buffer is sized for against
// the signatures each kind of key really makes.
func TestSignatureLen(t *testing.T) {
	var keys []*Key
	for _, alg := range []string{HS256, HS384, HS512} {
		k, err := NewHMACKey("", alg, make([]byte, 64))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, priv := range []crypto.Signer{rsaKey, ecKey, edKey} {
		k, err := NewPrivateKey("", "", priv)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	for _, k := range keys {
		for range 5 { // ECDSA signatures are fixed-width in JWS, whatever the numbers
			sig, err := k.signature([]byte("header.payload"))
			if err != nil {
				t.Fatal(err)
			}
			if got := signatureLen(k); got != len(sig) {
				t.Errorf("%s: signatureLen = %d, signature has %d bytes", k.alg, got, len(sig))
			}
		}
	}
}
