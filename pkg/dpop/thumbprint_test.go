package dpop

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
)

// The example of RFC 7638 section 3.1: an RSA key and its SHA-256 thumbprint.
const (
	rfc7638JWK = `{
		"kty": "RSA",
		"n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
		"e": "AQAB",
		"alg": "RS256",
		"kid": "2011-04-29"
	}`
	rfc7638Thumbprint = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
)

// TestThumbprintRFC7638 checks both ways to a thumbprint against RFC 7638's own
// example: the jwk header path and Thumbprint of the Go key.
func TestThumbprintRFC7638(t *testing.T) {
	var w wireJWK
	if err := json.Unmarshal([]byte(rfc7638JWK), &w); err != nil {
		t.Fatal(err)
	}
	k, err := parseJWK(&w, algRS256)
	if err != nil {
		t.Fatalf("parseJWK: %v", err)
	}
	if k.jkt != rfc7638Thumbprint {
		t.Errorf("jwk thumbprint = %s, want %s", k.jkt, rfc7638Thumbprint)
	}
	got, err := Thumbprint(k.key)
	if err != nil || got != rfc7638Thumbprint {
		t.Errorf("Thumbprint = %s, %v; want %s", got, err, rfc7638Thumbprint)
	}
	n, _ := enc.DecodeString(w.N)
	got, err = Thumbprint(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537})
	if err != nil || got != rfc7638Thumbprint {
		t.Errorf("Thumbprint of the key built by hand = %s, %v; want %s", got, err, rfc7638Thumbprint)
	}
}

// TestThumbprintMemberOrder recomputes each key type's thumbprint from the JSON
// RFC 7638 section 3.2 prescribes (required members only, in lexicographic order,
// no white space) and checks that the jwk path and Thumbprint agree.
func TestThumbprintMemberOrder(t *testing.T) {
	for _, kind := range []string{"ES256", "EdDSA", "RS256"} {
		t.Run(kind, func(t *testing.T) {
			key := keyFor(t, kind)
			m := publicJWK(t, key.signer.Public())
			var canon string
			switch kind {
			case "ES256":
				canon = `{"crv":"P-256","kty":"EC","x":"` + m["x"].(string) + `","y":"` + m["y"].(string) + `"}`
			case "EdDSA":
				canon = `{"crv":"Ed25519","kty":"OKP","x":"` + m["x"].(string) + `"}`
			case "RS256":
				canon = `{"e":"` + m["e"].(string) + `","kty":"RSA","n":"` + m["n"].(string) + `"}`
			}
			sum := sha256.Sum256([]byte(canon))
			want := enc.EncodeToString(sum[:])
			got, err := Thumbprint(key.signer.Public())
			if err != nil || got != want {
				t.Fatalf("Thumbprint = %s, %v; want %s", got, err, want)
			}
			// Optional members do not change it.
			m["kid"], m["use"], m["alg"] = "k", "sig", kind
			b, _ := json.Marshal(m)
			var w wireJWK
			if err := json.Unmarshal(b, &w); err != nil {
				t.Fatal(err)
			}
			k, err := parseJWK(&w, kind)
			if err != nil || k.jkt != want {
				t.Fatalf("jwk thumbprint = %s, %v; want %s", k.jkt, err, want)
			}
		})
	}
}

func TestThumbprintRefusesOtherKeys(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, pub := range []any{p384.Public(), []byte("secret"), nil, (*ecdsa.PublicKey)(nil), (*rsa.PublicKey)(nil), ed25519.PublicKey(make([]byte, 31))} {
		if got, err := Thumbprint(pub); !errors.Is(err, ErrKeyUnsupported) {
			t.Errorf("Thumbprint(%T) = %q, %v; want %v", pub, got, err, ErrKeyUnsupported)
		}
	}
}

func TestValidThumbprint(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want bool
	}{
		{rfc7638Thumbprint, true},
		{rfc7638Thumbprint[:42], false},
		{rfc7638Thumbprint + "A", false},
		{rfc7638Thumbprint + "=", false},
		{nonCanonicalLast(rfc7638Thumbprint), false},
		{strings.Replace(rfc7638Thumbprint, "-", "+", 1), false},
		{rfc7638Thumbprint[:20] + "\n" + rfc7638Thumbprint[21:], false},
		{"", false},
	} {
		if got := ValidThumbprint(tt.s); got != tt.want {
			t.Errorf("ValidThumbprint(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestEqualThumbprint(t *testing.T) {
	if !EqualThumbprint(rfc7638Thumbprint, strings.Clone(rfc7638Thumbprint)) {
		t.Error("a thumbprint is not equal to itself")
	}
	for _, other := range []string{"", rfc7638Thumbprint[:42], nonCanonicalLast(rfc7638Thumbprint), strings.ToLower(rfc7638Thumbprint)} {
		if EqualThumbprint(rfc7638Thumbprint, other) {
			t.Errorf("EqualThumbprint(%q, %q) = true", rfc7638Thumbprint, other)
		}
	}
}

// TestATHRFC9449 checks the ath computation against the example of RFC 9449
// section 7.1 through Verify: a proof with the RFC's ath for the RFC's token is
// accepted, and that ath is refused for any other token.
func TestATHRFC9449(t *testing.T) {
	const token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
	const ath = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
	if got := athOf(token); got != ath {
		t.Fatalf("test helper: ath = %s, want %s", got, ath)
	}
	clk := newTestClock()
	key := newECKey(t)
	for _, tt := range []struct {
		token   string
		wantErr error
	}{{token, nil}, {token + "x", ErrProofATH}} {
		req := Request{Method: "GET", URL: mustURL(t, "https://resource.example.org/protectedresource"), AccessToken: tt.token}
		s := newSpec(t, key, req, "", clk.t)
		s.claims["ath"] = ath
		if _, err := mustVerifier(t, WithClock(clk.now)).Verify(s.proof(t), req); !errors.Is(err, tt.wantErr) {
			t.Errorf("token %q: error = %v, want %v", tt.token, err, tt.wantErr)
		}
	}
}
