package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
)

// TestKnownHeadersPassTheFullCheck: every header the verifier accepts without
// decoding is one the full check accepts too, naming the same key, so the
// shortcut admits nothing the check would refuse.
func TestKnownHeadersPassTheFullCheck(t *testing.T) {
	hk, err := NewHMACKey("hmac-<kid>&", HS512, make([]byte, 64))
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := NewPrivateKey("", "", ec)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := NewKeySet(pk.ID(), []*Key{hk, pk})
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(ks, "iss", "aud")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.headers) != 2 {
		t.Fatalf("%d known headers, want one per key", len(v.headers))
	}
	for seg, want := range v.headers {
		got, err := v.decodeHeader(seg)
		if err != nil || got != want {
			t.Errorf("decodeHeader(%s) = %v, %v; want key %q", seg, got, err, want.ID())
		}
	}
	iss, err := NewIssuer(ks, "iss", "aud")
	if err != nil {
		t.Fatal(err)
	}
	if v.headers[iss.header] != pk {
		t.Errorf("the issuer's header %s is not known as its signing key's", iss.header)
	}
}
