package dpop

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
)

// fuzzHeader and fuzzClaims make a valid proof when signed with fuzzKey for
// fuzzRequest at the test clock's instant.
const (
	fuzzJWK    = `{"kty":"OKP","crv":"Ed25519","x":"A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"}`
	fuzzHeader = `{"typ":"dpop+jwt","alg":"EdDSA","jwk":` + fuzzJWK + `}`
	fuzzClaims = `{"jti":"fuzz-1","htm":"POST","htu":"https://gateway.example/sessions","iat":1800000000}`
)

// fuzzKey is the Ed25519 key of fuzzJWK (seed 0, 1, ..., 31): deterministic, so a
// crasher reproduces exactly.
func fuzzKey() ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	return ed25519.NewKeyFromSeed(seed)
}

// fuzzSign signs header and claims (raw JSON) with key as a compact JWS.
func fuzzSign(key ed25519.PrivateKey, header, claims string) string {
	si := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	return si + "." + enc.EncodeToString(ed25519.Sign(key, []byte(si)))
}

// FuzzDPoPProof feeds the verifier arbitrary proofs two ways: raw as given, and
// as the given header and claims signed with the fuzz key, so that mutations reach
// past the signature into the header, key and claim checks. Neither may panic;
// every refusal must wrap exactly one sentinel; and anything accepted must be
// canonically formed: three segments of canonical base64url within the size bound,
// a header that an independent JSON parser reads as typ dpop+jwt with an accepted
// alg and the jwk whose thumbprint the result reports, claims matching the request,
// and a jti that cannot be used a second time. Seeds beyond these are in
// testdata/fuzz/FuzzDPoPProof.
func FuzzDPoPProof(f *testing.F) {
	key := fuzzKey()
	clk := newTestClock()
	req := Request{Method: "POST", URL: mustURL(f, "https://gateway.example/sessions")}
	valid := fuzzSign(key, fuzzHeader, fuzzClaims)
	keyJKT, err := Thumbprint(key.Public())
	if err != nil {
		f.Fatal(err)
	}
	if res, err := mustVerifier(f, WithClock(clk.now)).Verify(valid, req); err != nil || res.JKT != keyJKT {
		f.Fatalf("the valid seed is refused (%v) or fuzzJWK is not the fuzz key", err)
	}
	f.Add(valid, fuzzHeader, fuzzClaims)
	f.Add(valid+".", `{"typ":"dpop+jwt","alg":"Ed25519","jwk":`+fuzzJWK+`}`, fuzzClaims)
	f.Add(valid[:len(valid)-1], `{"typ":"dpop+jwt","alg":"none","jwk":`+fuzzJWK+`}`, fuzzClaims)
	f.Add(strings.Replace(valid, ".", "..", 1), fuzzHeader, `{"jti":"x","htm":"POST","htu":"HTTPS://GATEWAY.example:443/sessions","iat":1800000000.25}`)
	f.Add("", `{"typ":"dpop+jwt","alg":"EdDSA","crit":["b64"],"b64":false,"jwk":`+fuzzJWK+`}`, fuzzClaims)
	f.Add("..", `{"typ":"dpop+jwt","alg":"EdDSA","jwk":{"kty":"OKP","crv":"Ed25519","x":"A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg","d":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}}`, fuzzClaims)
	f.Fuzz(func(t *testing.T, raw, header, claims string) {
		// A fresh verifier (and replay cache) per input, so the valid seed is
		// accepted every time it runs.
		v, err := NewVerifier(WithClock(clk.now))
		if err != nil {
			t.Fatal(err)
		}
		checkFuzzed(t, v, raw, req, "")
		if len(header)+len(claims) <= MaxProofSize {
			checkFuzzed(t, v, fuzzSign(key, header, claims), req, keyJKT)
		}
	})
}

// checkFuzzed verifies proof and checks the outcome as FuzzDPoPProof says. A
// non-empty wantJKT is the only key that can have signed proof.
func checkFuzzed(t *testing.T, v *Verifier, proof string, req Request, wantJKT string) {
	res, err := v.Verify(proof, req)
	if err != nil {
		if n := sentinels(err); n != 1 {
			t.Fatalf("error %q wraps %d refusal sentinels, want 1", err, n)
		}
		return
	}
	if len(proof) > MaxProofSize {
		t.Fatalf("accepted a proof of %d bytes", len(proof))
	}
	segs := strings.Split(proof, ".")
	if len(segs) != 3 {
		t.Fatalf("accepted a proof of %d segments", len(segs))
	}
	var dec [3][]byte
	for i, s := range segs {
		b, err := enc.Strict().DecodeString(s)
		if err != nil || len(b) == 0 || enc.EncodeToString(b) != s {
			t.Fatalf("accepted a proof with a non-canonical segment %q", s)
		}
		dec[i] = b
	}
	// Maps, not structs: encoding/json matches struct fields case-insensitively,
	// JOSE names are case-sensitive.
	var h map[string]any
	if err := json.Unmarshal(dec[0], &h); err != nil {
		t.Fatalf("accepted a header encoding/json cannot read: %v", err)
	}
	typ, _ := h["typ"].(string)
	if strings.TrimPrefix(strings.ToLower(typ), "application/") != "dpop+jwt" {
		t.Fatalf("accepted header typ %q", typ)
	}
	if _, ok := h["crit"]; ok {
		t.Fatal("accepted a header with crit")
	}
	alg, _ := h["alg"].(string)
	if canonicalAlg(alg) == "" || canonicalAlg(alg) != res.Alg {
		t.Fatalf("accepted alg %q as %q", alg, res.Alg)
	}
	jwk, _ := h["jwk"].(map[string]any)
	for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
		if _, ok := jwk[m]; ok {
			t.Fatalf("accepted a jwk with private member %q", m)
		}
	}
	pub := independentKey(t, jwk)
	jkt, err := Thumbprint(pub)
	if err != nil || jkt != res.JKT {
		t.Fatalf("result JKT %s, but the jwk's thumbprint is %s (%v)", res.JKT, jkt, err)
	}
	if wantJKT != "" && res.JKT != wantJKT {
		t.Fatalf("accepted a proof signed by the fuzz key for another jwk")
	}
	var c map[string]any
	if err := json.Unmarshal(dec[1], &c); err != nil {
		t.Fatalf("accepted claims encoding/json cannot read: %v", err)
	}
	jti, _ := c["jti"].(string)
	htm, _ := c["htm"].(string)
	if jti == "" || jti != res.JTI || len(jti) > MaxJTILen || htm != req.Method {
		t.Fatalf("accepted jti %q (result %q), htm %q", jti, res.JTI, htm)
	}
	if _, err := v.Verify(proof, req); !errors.Is(err, ErrProofReplayed) {
		t.Fatalf("an accepted proof used again: error = %v, want %v", err, ErrProofReplayed)
	}
}

// independentKey builds the Go public key from a jwk read by encoding/json, apart
// from the package's own decoding.
func independentKey(t *testing.T, jwk map[string]any) any {
	t.Helper()
	member := func(name string) []byte {
		s, _ := jwk[name].(string)
		b, err := enc.DecodeString(s)
		if err != nil {
			t.Fatalf("accepted a jwk whose %s is not base64url", name)
		}
		return b
	}
	switch jwk["kty"] {
	case "EC":
		x, y := member("x"), member("y")
		return &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
	case "OKP":
		return ed25519.PublicKey(member("x"))
	case "RSA":
		return &rsa.PublicKey{N: new(big.Int).SetBytes(member("n")), E: int(new(big.Int).SetBytes(member("e")).Int64())}
	}
	t.Fatalf("accepted a jwk of kty %v", jwk["kty"])
	return nil
}
