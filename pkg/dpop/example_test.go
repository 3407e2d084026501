package dpop_test

import (
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"

	"github.com/jwtgate/jwtgate/pkg/dpop"
)

// A server builds one verifier and checks the proof of each request against the
// request as it received it; a bound token's cnf.jkt goes in Request.JKT.
func Example() {
	now := time.Unix(1_800_000_000, 0)
	v, err := dpop.NewVerifier(dpop.WithClock(func() time.Time { return now }))
	if err != nil {
		panic(err)
	}
	// What a client (a browser with a WebCrypto key) sends at POST /sessions.
	proof := clientProof(`{"jti":"e1j3V_bKic8-LAEB","htm":"POST","htu":"https://gateway.example/sessions","iat":1800000000}`)
	req := dpop.Request{Method: "POST", URL: &url.URL{Scheme: "https", Host: "gateway.example", Path: "/sessions"}}

	res, err := v.Verify(proof, req)
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Alg, res.JKT) // the jkt goes into the new token's cnf claim

	_, err = v.Verify(proof, req)
	label, desc := dpop.Reason(err)
	fmt.Println(errors.Is(err, dpop.ErrProofReplayed), label, desc)
	// Output:
	// EdDSA 9ZP03Nu8GrXPAUkbKNxHOKBzxPX83SShgFkRNK-f2lw
	// true dpop_replayed DPoP proof has been used before
}

// clientProof signs claims as a client would, with a fixed Ed25519 key.
func clientProof(claims string) string {
	seed := make([]byte, ed25519.SeedSize)
	key := ed25519.NewKeyFromSeed(seed)
	enc := base64.RawURLEncoding
	header := `{"typ":"dpop+jwt","alg":"EdDSA","jwk":{"kty":"OKP","crv":"Ed25519","x":"` +
		enc.EncodeToString(key.Public().(ed25519.PublicKey)) + `"}}`
	si := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	return si + "." + enc.EncodeToString(ed25519.Sign(key, []byte(si)))
}

// The thumbprint of RFC 7638's example key (section 3.1).
func ExampleThumbprint() {
	n, _ := base64.RawURLEncoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	jkt, err := dpop.Thumbprint(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537})
	fmt.Println(jkt, err)
	// Output: NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs <nil>
}

// With nonces required, a proof without the current nonce is refused with
// ErrProofNonce; the caller answers 401 use_dpop_nonce with the DPoP-Nonce header,
// and the client's retry carries it.
func ExampleNonceSource() {
	now := time.Unix(1_800_000_000, 0)
	ns, err := dpop.NewNonceSource([]byte("a secret of 32 bytes or more, from the config"), 5*time.Minute)
	if err != nil {
		panic(err)
	}
	v, _ := dpop.NewVerifier(dpop.WithClock(func() time.Time { return now }), dpop.WithNonces(ns))
	req := dpop.Request{Method: "POST", URL: &url.URL{Scheme: "https", Host: "gateway.example", Path: "/sessions"}}

	_, err = v.Verify(clientProof(`{"jti":"a1","htm":"POST","htu":"https://gateway.example/sessions","iat":1800000000}`), req)
	fmt.Println(errors.Is(err, dpop.ErrProofNonce))

	nonce := v.Nonces().Nonce(now) // the DPoP-Nonce header
	_, err = v.Verify(clientProof(`{"jti":"a2","htm":"POST","htu":"https://gateway.example/sessions","iat":1800000000,"nonce":"`+nonce+`"}`), req)
	fmt.Println(err)
	// Output:
	// true
	// <nil>
}
