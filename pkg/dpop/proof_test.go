package dpop

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"
)

// proofCase is a proof, the request it comes with and the options of the verifier
// that checks it.
type proofCase struct {
	spec *proofSpec
	req  Request
	opts []Option
	now  time.Time
}

func (c *proofCase) clone() *proofCase {
	d := *c
	d.spec = c.spec.clone()
	return &d
}

// newCase returns a valid proof by key for an authenticated POST to a chat route,
// bound (req.JKT) to key and carrying the ath of the access token.
func newCase(t *testing.T, key testKey, now time.Time) *proofCase {
	t.Helper()
	req := Request{
		Method:      "POST",
		URL:         mustURL(t, "https://gateway.example/v1/chat/completions"),
		AccessToken: testAccessToken,
	}
	jkt, err := Thumbprint(key.signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	req.JKT = jkt
	return &proofCase{spec: newSpec(t, key, req, req.AccessToken, now), req: req, now: now}
}

// canonical returns the canonical name of a test key kind.
func canonical(kind string) string {
	if kind == "Ed25519" {
		return "EdDSA"
	}
	return kind
}

// Short hands for faults.
func delClaim(name string) func(*proofCase) {
	return func(c *proofCase) { delete(c.spec.claims, name) }
}

func setClaim(name string, v any) func(*proofCase) {
	return func(c *proofCase) { c.spec.claims[name] = v }
}

func delHeader(name string) func(*proofCase) {
	return func(c *proofCase) { delete(c.spec.header, name) }
}

func setHeader(name string, v any) func(*proofCase) {
	return func(c *proofCase) { c.spec.header[name] = v }
}

func setJWK(name string, v any) func(*proofCase) {
	return func(c *proofCase) { c.spec.jwk()[name] = v }
}

func setURL(t *testing.T, s string) func(*proofCase) {
	return func(c *proofCase) { c.req.URL = mustURL(t, s) }
}

// jwkBytes returns the decoded value of the base64url jwk member name.
func jwkBytes(c *proofCase, name string) []byte {
	b, err := enc.DecodeString(c.spec.jwk()[name].(string))
	if err != nil {
		panic(err)
	}
	return b
}

// insertAfterBrace inserts s after the first "{" of JSON b.
func insertAfterBrace(s string) func([]byte) []byte {
	return func(b []byte) []byte {
		return append([]byte("{"+s), b[1:]...)
	}
}

// nonCanonicalLast sets the lowest bit of the last base64url character of s, which
// is a trailing (padding) bit when len(s)%4 is 2 or 3.
func nonCanonicalLast(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[i|1])
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestVerifyRefusals makes one proof per row with one fault, checks that it is
// refused with the row's sentinel (and no other), and then that the same proof
// with the fault mended is accepted by the same verifier: the fault alone caused
// the refusal, and a refused proof's jti was not recorded.
func TestVerifyRefusals(t *testing.T) {
	keys := map[string]testKey{
		"ES256":   newECKey(t),
		"EdDSA":   newEdKey(t, "EdDSA"),
		"Ed25519": newEdKey(t, "Ed25519"),
		"RS256":   rsaKey(t, 2048),
	}
	otherEC, otherEd, rsa1024, rsa4096 := newECKey(t), newEdKey(t, "EdDSA"), rsaKey(t, 1024), rsaKey(t, 4096)
	otherJKT, err := Thumbprint(otherEC.signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	const window = time.Minute
	nonces := mustNonceSource(t, "a nonce secret of at least 32 bytes, for tests", window)
	withNonce := func(c *proofCase) {
		c.opts = append(c.opts, WithNonces(nonces))
		c.spec.claims["nonce"] = nonces.Nonce(c.now)
	}
	noToken := func(c *proofCase) {
		c.req.AccessToken = ""
		delete(c.spec.claims, "ath")
	}
	tests := []struct {
		name    string
		kind    string           // key kind; ES256 when empty
		setup   func(*proofCase) // applied to both the faulty proof and its control
		fault   func(*proofCase) // applied to the faulty proof only
		wantErr error
	}{
		// Form: one compact JWS, canonical base64url, within the size bound.
		{name: "over the size bound", fault: setClaim("pad", strings.Repeat("x", MaxProofSize)), wantErr: ErrProofMalformed},
		{name: "two parts", fault: func(c *proofCase) {
			c.spec.editCompact = func(s string) string { return s[:strings.LastIndexByte(s, '.')] }
		}, wantErr: ErrProofMalformed},
		{name: "four parts", fault: func(c *proofCase) {
			c.spec.editCompact = func(s string) string { return s + ".AAAA" }
		}, wantErr: ErrProofMalformed},
		{name: "empty signature part", fault: func(c *proofCase) {
			c.spec.editCompact = func(s string) string { return s[:strings.LastIndexByte(s, '.')+1] }
		}, wantErr: ErrProofMalformed},
		{name: "empty payload part", fault: func(c *proofCase) {
			c.spec.editCompact = func(s string) string {
				return s[:strings.IndexByte(s, '.')+1] + s[strings.LastIndexByte(s, '.'):]
			}
		}, wantErr: ErrProofMalformed},
		{name: "base64 padding", fault: func(c *proofCase) {
			c.spec.editCompact = func(s string) string { return s + "==" }
		}, wantErr: ErrProofMalformed},
		{name: "line break in the signature", fault: func(c *proofCase) {
			c.spec.editCompact = func(s string) string { return s[:len(s)-10] + "\n" + s[len(s)-10:] }
		}, wantErr: ErrProofMalformed},
		{name: "blank around the proof", fault: func(c *proofCase) {
			c.spec.editCompact = func(s string) string { return " " + s }
		}, wantErr: ErrProofMalformed},
		{name: "non-canonical base64url in the signature", fault: func(c *proofCase) {
			c.spec.editCompact = nonCanonicalLast
		}, wantErr: ErrProofMalformed},
		{name: "standard base64 alphabet", fault: func(c *proofCase) {
			c.spec.editCompact = func(s string) string { return strings.NewReplacer("-", "+", "_", "/").Replace(s) }
			// Six U+00FF (C3 BF ...) encode to "_" in every alignment, so the
			// replacement always changes something.
			c.spec.claims["pad"] = strings.Repeat("\u00ff", 6)
		}, wantErr: ErrProofMalformed},
		{name: "header not JSON", fault: func(c *proofCase) {
			c.spec.editHeader = func([]byte) []byte { return []byte("not json") }
		}, wantErr: ErrProofMalformed},
		{name: "header a JSON array", fault: func(c *proofCase) {
			c.spec.editHeader = func([]byte) []byte { return []byte(`["typ","dpop+jwt"]`) }
		}, wantErr: ErrProofMalformed},
		{name: "data after the header object", fault: func(c *proofCase) {
			c.spec.editHeader = func(b []byte) []byte { return append(b, " {}"...) }
		}, wantErr: ErrProofMalformed},
		{name: "duplicate header member", fault: func(c *proofCase) {
			c.spec.editHeader = insertAfterBrace(`"typ":"dpop+jwt",`)
		}, wantErr: ErrProofMalformed},
		{name: "duplicate header member, other value", fault: func(c *proofCase) {
			c.spec.editHeader = insertAfterBrace(`"alg":"none",`)
		}, wantErr: ErrProofMalformed},
		{name: "duplicate jwk member", fault: func(c *proofCase) {
			c.spec.editHeader = func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"jwk":{`), []byte(`"jwk":{"crv":"P-256",`), 1)
			}
		}, wantErr: ErrProofMalformed},
		{name: "duplicate claim", fault: func(c *proofCase) {
			c.spec.editClaims = insertAfterBrace(`"htm":"POST",`)
		}, wantErr: ErrProofMalformed},
		{name: "claims not a JSON object", fault: func(c *proofCase) {
			c.spec.editClaims = func([]byte) []byte { return []byte(`"claims"`) }
		}, wantErr: ErrProofMalformed},
		{name: "invalid UTF-8 in the claims", fault: func(c *proofCase) {
			c.spec.editClaims = insertAfterBrace("\"x\":\"\xff\",")
		}, wantErr: ErrProofMalformed},
		{name: "iat a string", fault: setClaim("iat", "1800000000"), wantErr: ErrProofMalformed},
		{name: "jti a number", fault: setClaim("jti", 12345), wantErr: ErrProofMalformed},
		{name: "jwk a string", fault: setHeader("jwk", "key"), wantErr: ErrProofMalformed},

		// typ
		{name: "typ missing", fault: delHeader("typ"), wantErr: ErrProofTyp},
		{name: "typ null", fault: setHeader("typ", nil), wantErr: ErrProofTyp},
		{name: "typ JWT", fault: setHeader("typ", "JWT"), wantErr: ErrProofTyp},
		{name: "typ at+jwt", fault: setHeader("typ", "at+jwt"), wantErr: ErrProofTyp},
		{name: "typ with a parameter", fault: setHeader("typ", "dpop+jwt; q=1"), wantErr: ErrProofTyp},

		// alg
		{name: "alg missing", fault: delHeader("alg"), wantErr: ErrProofAlg},
		{name: "alg none", fault: setHeader("alg", "none"), wantErr: ErrProofAlg},
		{name: "alg HS256", fault: setHeader("alg", "HS256"), wantErr: ErrProofAlg},
		{name: "alg ES384", fault: setHeader("alg", "ES384"), wantErr: ErrProofAlg},
		{name: "alg es256 (names are case-sensitive)", fault: setHeader("alg", "es256"), wantErr: ErrProofAlg},
		{name: "alg PS256", kind: "RS256", fault: setHeader("alg", "PS256"), wantErr: ErrProofAlg},
		{name: "alg RS512", kind: "RS256", fault: setHeader("alg", "RS512"), wantErr: ErrProofAlg},
		{name: "alg Ed448", kind: "EdDSA", fault: setHeader("alg", "Ed448"), wantErr: ErrProofAlg},
		{name: "alg RS256 with an EC key", fault: setHeader("alg", "RS256"), wantErr: ErrProofKey},
		{name: "alg ES256 with an Ed25519 key", kind: "EdDSA", fault: setHeader("alg", "ES256"), wantErr: ErrProofKey},
		{name: "alg EdDSA with an RSA key", kind: "RS256", fault: setHeader("alg", "EdDSA"), wantErr: ErrProofKey},

		// crit: no extension is understood
		{name: "crit", fault: setHeader("crit", []string{"exp"}), wantErr: ErrProofHeader},
		{name: "crit empty", fault: setHeader("crit", []string{}), wantErr: ErrProofHeader},
		{name: "crit b64", fault: func(c *proofCase) {
			c.spec.header["crit"] = []string{"b64"}
			c.spec.header["b64"] = false
		}, wantErr: ErrProofHeader},

		// jwk: present, public only, of the algorithm's type, valid
		{name: "jwk missing", fault: delHeader("jwk"), wantErr: ErrProofKey},
		{name: "jwk null", fault: setHeader("jwk", nil), wantErr: ErrProofKey},
		{name: "EC private member d", fault: func(c *proofCase) { setJWK("d", enc.EncodeToString(random(32)))(c) }, wantErr: ErrProofKey},
		{name: "EC private member d null", fault: setJWK("d", nil), wantErr: ErrProofKey},
		{name: "EC with symmetric member k", fault: setJWK("k", "c2VjcmV0"), wantErr: ErrProofKey},
		{name: "jwk alg differs from the header's", fault: setJWK("alg", "RS256"), wantErr: ErrProofKey},
		{name: "EC curve P-384", fault: setJWK("crv", "P-384"), wantErr: ErrProofKey},
		{name: "EC curve missing", fault: func(c *proofCase) { delete(c.spec.jwk(), "crv") }, wantErr: ErrProofKey},
		{name: "kty OKP with ES256", fault: setJWK("kty", "OKP"), wantErr: ErrProofKey},
		{name: "kty in lower case", fault: setJWK("kty", "ec"), wantErr: ErrProofKey},
		{name: "EC x of 31 bytes", fault: func(c *proofCase) { setJWK("x", enc.EncodeToString(jwkBytes(c, "x")[1:]))(c) }, wantErr: ErrProofKey},
		{name: "EC x with a leading zero octet", fault: func(c *proofCase) {
			setJWK("x", enc.EncodeToString(append([]byte{0}, jwkBytes(c, "x")...)))(c)
		}, wantErr: ErrProofKey},
		{name: "EC x non-canonical base64url", fault: func(c *proofCase) { setJWK("x", nonCanonicalLast(c.spec.jwk()["x"].(string)))(c) }, wantErr: ErrProofKey},
		{name: "EC point not on the curve", fault: func(c *proofCase) {
			y := jwkBytes(c, "y")
			y[31] ^= 1
			setJWK("y", enc.EncodeToString(y))(c)
		}, wantErr: ErrProofKey},
		{name: "EC y missing", fault: func(c *proofCase) { delete(c.spec.jwk(), "y") }, wantErr: ErrProofKey},
		{name: "OKP private member d", kind: "EdDSA", fault: func(c *proofCase) { setJWK("d", enc.EncodeToString(random(32)))(c) }, wantErr: ErrProofKey},
		{name: "OKP curve X25519", kind: "EdDSA", fault: setJWK("crv", "X25519"), wantErr: ErrProofKey},
		{name: "OKP curve Ed448", kind: "Ed25519", fault: setJWK("crv", "Ed448"), wantErr: ErrProofKey},
		{name: "kty EC with EdDSA", kind: "EdDSA", fault: setJWK("kty", "EC"), wantErr: ErrProofKey},
		{name: "OKP x of 31 bytes", kind: "EdDSA", fault: func(c *proofCase) { setJWK("x", enc.EncodeToString(jwkBytes(c, "x")[:31]))(c) }, wantErr: ErrProofKey},
		{name: "RSA of 1024 bits", kind: "RS256", fault: func(c *proofCase) {
			c.spec.key = rsa1024
			c.spec.header["jwk"] = publicJWK(t, rsa1024.signer.Public())
		}, wantErr: ErrProofKey},
		{name: "RSA over 4096 bits", kind: "RS256", fault: func(c *proofCase) {
			n := random(4104 / 8)
			n[0] |= 0x80
			n[len(n)-1] |= 1
			setJWK("n", enc.EncodeToString(n))(c)
		}, wantErr: ErrProofKey},
		{name: "RSA n with a leading zero octet", kind: "RS256", fault: func(c *proofCase) {
			setJWK("n", enc.EncodeToString(append([]byte{0}, jwkBytes(c, "n")...)))(c)
		}, wantErr: ErrProofKey},
		{name: "RSA n even", kind: "RS256", fault: func(c *proofCase) {
			n := jwkBytes(c, "n")
			n[len(n)-1] &^= 1
			setJWK("n", enc.EncodeToString(n))(c)
		}, wantErr: ErrProofKey},
		{name: "RSA e of 1", kind: "RS256", fault: setJWK("e", "AQ"), wantErr: ErrProofKey},
		{name: "RSA e even", kind: "RS256", fault: setJWK("e", enc.EncodeToString(big.NewInt(65536).Bytes())), wantErr: ErrProofKey},
		{name: "RSA e with a leading zero octet", kind: "RS256", fault: setJWK("e", "AAEAAQ"), wantErr: ErrProofKey},
		{name: "RSA e over 2^31-1", kind: "RS256", fault: setJWK("e", enc.EncodeToString(big.NewInt(1<<33+1).Bytes())), wantErr: ErrProofKey},
		{name: "RSA e missing", kind: "RS256", fault: func(c *proofCase) { delete(c.spec.jwk(), "e") }, wantErr: ErrProofKey},
		{name: "kty EC with RS256", kind: "RS256", fault: setJWK("kty", "EC"), wantErr: ErrProofKey},
		{name: "RSA private member d", kind: "RS256", fault: setJWK("d", "AQAB"), wantErr: ErrProofKey},
		{name: "RSA private member p", kind: "RS256", fault: setJWK("p", "AQAB"), wantErr: ErrProofKey},
		{name: "RSA private member q", kind: "RS256", fault: setJWK("q", "AQAB"), wantErr: ErrProofKey},
		{name: "RSA private member dp", kind: "RS256", fault: setJWK("dp", "AQAB"), wantErr: ErrProofKey},
		{name: "RSA private member dq", kind: "RS256", fault: setJWK("dq", "AQAB"), wantErr: ErrProofKey},
		{name: "RSA private member qi", kind: "RS256", fault: setJWK("qi", "AQAB"), wantErr: ErrProofKey},
		{name: "RSA private member oth", kind: "RS256", fault: setJWK("oth", []map[string]string{{"r": "AQAB", "d": "AQAB", "t": "AQAB"}}), wantErr: ErrProofKey},

		// signature
		{name: "ES256 signed by another key", fault: func(c *proofCase) { c.spec.signWith = otherEC.signer }, wantErr: ErrProofSignature},
		{name: "ES256 signature in DER", fault: func(c *proofCase) { c.spec.derSig = true }, wantErr: ErrProofSignature},
		{name: "ES256 signature truncated", fault: func(c *proofCase) {
			c.spec.editSig = func(b []byte) []byte { return b[:63] }
		}, wantErr: ErrProofSignature},
		{name: "ES256 signature bit flipped", fault: func(c *proofCase) {
			c.spec.editSig = func(b []byte) []byte { b[10] ^= 1; return b }
		}, wantErr: ErrProofSignature},
		{name: "claims changed after signing", fault: func(c *proofCase) {
			moved := cloneMap(c.spec.claims)
			moved["extra"] = true
			cj, _ := json.Marshal(moved)
			c.spec.editCompact = func(s string) string {
				return s[:strings.IndexByte(s, '.')+1] + enc.EncodeToString(cj) + s[strings.LastIndexByte(s, '.'):]
			}
		}, wantErr: ErrProofSignature},
		{name: "EdDSA signed by another key", kind: "EdDSA", fault: func(c *proofCase) { c.spec.signWith = otherEd.signer }, wantErr: ErrProofSignature},
		{name: "Ed25519 signature bit flipped", kind: "Ed25519", fault: func(c *proofCase) {
			c.spec.editSig = func(b []byte) []byte { b[0] ^= 1; return b }
		}, wantErr: ErrProofSignature},
		{name: "RS256 signed by another key", kind: "RS256", fault: func(c *proofCase) { c.spec.signWith = rsa4096.signer }, wantErr: ErrProofSignature},
		{name: "RS256 signature truncated", kind: "RS256", fault: func(c *proofCase) {
			c.spec.editSig = func(b []byte) []byte { return b[1:] }
		}, wantErr: ErrProofSignature},

		// jti
		{name: "jti missing", fault: delClaim("jti"), wantErr: ErrProofJTI},
		{name: "jti empty", fault: setClaim("jti", ""), wantErr: ErrProofJTI},
		{name: "jti too long", fault: setClaim("jti", strings.Repeat("j", MaxJTILen+1)), wantErr: ErrProofJTI},

		// htm
		{name: "htm another method", fault: setClaim("htm", "GET"), wantErr: ErrProofMethod},
		{name: "htm in lower case", fault: setClaim("htm", "post"), wantErr: ErrProofMethod},
		{name: "htm missing", fault: delClaim("htm"), wantErr: ErrProofMethod},
		{name: "request of another method", fault: func(c *proofCase) { c.req.Method = "PUT" }, wantErr: ErrProofMethod},

		// htu
		{name: "htu missing", fault: delClaim("htu"), wantErr: ErrProofURI},
		{name: "htu another path", fault: setClaim("htu", "https://gateway.example/v1/embeddings"), wantErr: ErrProofURI},
		{name: "htu path in another case", fault: setClaim("htu", "https://gateway.example/V1/chat/completions"), wantErr: ErrProofURI},
		{name: "htu another host", fault: setClaim("htu", "https://evil.example/v1/chat/completions"), wantErr: ErrProofURI},
		{name: "htu another scheme", fault: setClaim("htu", "http://gateway.example/v1/chat/completions"), wantErr: ErrProofURI},
		{name: "htu another port", fault: setClaim("htu", "https://gateway.example:8443/v1/chat/completions"), wantErr: ErrProofURI},
		{name: "htu with a query", fault: setClaim("htu", "https://gateway.example/v1/chat/completions?x=1"), wantErr: ErrProofURI},
		{name: "htu with an empty query", fault: setClaim("htu", "https://gateway.example/v1/chat/completions?"), wantErr: ErrProofURI},
		{name: "htu with a fragment", fault: setClaim("htu", "https://gateway.example/v1/chat/completions#top"), wantErr: ErrProofURI},
		{name: "htu relative", fault: setClaim("htu", "/v1/chat/completions"), wantErr: ErrProofURI},
		{name: "htu with userinfo", fault: setClaim("htu", "https://user@gateway.example/v1/chat/completions"), wantErr: ErrProofURI},
		{name: "htu of another scheme", fault: setClaim("htu", "ftp://gateway.example/v1/chat/completions"), wantErr: ErrProofURI},
		{name: "htu with an encoded slash", fault: setClaim("htu", "https://gateway.example/v1/chat%2Fcompletions"), wantErr: ErrProofURI},
		{name: "htu with a space", fault: setClaim("htu", "https://gateway.example/v1/chat/completions "), wantErr: ErrProofURI},
		{name: "htu with a bad percent-encoding", fault: setClaim("htu", "https://gateway.example/v1/chat/completions%4"), wantErr: ErrProofURI},
		{name: "request to another path", fault: setURL(t, "https://gateway.example/v1/models"), wantErr: ErrProofURI},
		{name: "request URL without a host", fault: setURL(t, "/v1/chat/completions"), wantErr: ErrProofURI},
		{name: "request URL nil", fault: func(c *proofCase) { c.req.URL = nil }, wantErr: ErrProofURI},

		// iat: within [now-maxAge-leeway, now+leeway]
		{name: "iat missing", fault: delClaim("iat"), wantErr: ErrProofIAT},
		{name: "iat too old", fault: func(c *proofCase) {
			c.spec.claims["iat"] = c.now.Add(-DefaultMaxAge - DefaultLeeway - time.Second).Unix()
		}, wantErr: ErrProofIAT},
		{name: "iat in the future past the leeway", fault: func(c *proofCase) {
			c.spec.claims["iat"] = c.now.Add(DefaultLeeway + time.Second).Unix()
		}, wantErr: ErrProofIAT},
		{name: "iat zero", fault: setClaim("iat", 0), wantErr: ErrProofIAT},
		{name: "iat negative", fault: setClaim("iat", -1), wantErr: ErrProofIAT},
		{name: "iat huge", fault: setClaim("iat", 1e300), wantErr: ErrProofIAT},
		{name: "iat null", fault: setClaim("iat", nil), wantErr: ErrProofIAT},

		// ath, required with an access token
		{name: "ath missing", fault: delClaim("ath"), wantErr: ErrProofATH},
		{name: "ath of another token", fault: setClaim("ath", athOf(testAccessToken+"x")), wantErr: ErrProofATH},
		{name: "ath padded", fault: func(c *proofCase) { c.spec.claims["ath"] = athOf(testAccessToken) + "=" }, wantErr: ErrProofATH},
		{name: "ath non-canonical base64url", fault: func(c *proofCase) { c.spec.claims["ath"] = nonCanonicalLast(athOf(testAccessToken)) }, wantErr: ErrProofATH},
		{name: "ath in hex", fault: func(c *proofCase) {
			h := sha256.Sum256([]byte(testAccessToken))
			c.spec.claims["ath"] = hex.EncodeToString(h[:])
		}, wantErr: ErrProofATH},
		{name: "another access token", fault: func(c *proofCase) { c.req.AccessToken = testAccessToken + "x" }, wantErr: ErrProofATH},

		// nonce, when required
		{name: "nonce missing", setup: withNonce, fault: delClaim("nonce"), wantErr: ErrProofNonce},
		{name: "nonce empty", setup: withNonce, fault: setClaim("nonce", ""), wantErr: ErrProofNonce},
		{name: "nonce two windows old", setup: withNonce, fault: func(c *proofCase) {
			c.spec.claims["nonce"] = nonces.Nonce(c.now.Add(-2 * window))
		}, wantErr: ErrProofNonce},
		{name: "nonce of the next window", setup: withNonce, fault: func(c *proofCase) {
			c.spec.claims["nonce"] = nonces.Nonce(c.now.Add(window))
		}, wantErr: ErrProofNonce},
		{name: "nonce from another secret", setup: withNonce, fault: func(c *proofCase) {
			c.spec.claims["nonce"] = mustNonceSource(t, "another nonce secret of 32 bytes or more", window).Nonce(c.now)
		}, wantErr: ErrProofNonce},
		{name: "nonce missing at POST /sessions", setup: func(c *proofCase) {
			noToken(c)
			c.req.JKT = ""
			withNonce(c)
		}, fault: delClaim("nonce"), wantErr: ErrProofNonce},

		// binding to the token's cnf.jkt
		{name: "key other than the token's", fault: func(c *proofCase) { c.req.JKT = otherJKT }, wantErr: ErrProofBinding},
		{name: "token bound to a thumbprint in another case", fault: func(c *proofCase) { c.req.JKT = strings.ToUpper(c.req.JKT) }, wantErr: ErrProofBinding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind := tt.kind
			if kind == "" {
				kind = "ES256"
			}
			clk := newTestClock()
			c := newCase(t, keys[kind], clk.t)
			if tt.setup != nil {
				tt.setup(c)
			}
			v := mustVerifier(t, append([]Option{WithClock(clk.now)}, c.opts...)...)

			bad := c.clone()
			tt.fault(bad)
			badProof := bad.spec.proof(t)
			_, err := v.Verify(badProof, bad.req)
			checkRefused(t, err, tt.wantErr)

			// The same refusal, word for word, from a verifier that has parsed
			// and cached the key's header already (headercache.go).
			warm := mustVerifier(t, append([]Option{WithClock(clk.now)}, c.opts...)...)
			first := c.clone()
			first.spec.claims["jti"] = first.spec.claims["jti"].(string) + "-first"
			if _, err := warm.Verify(first.spec.proof(t), first.req); err != nil {
				t.Fatalf("the proof without the fault is refused: %v", err)
			}
			if _, werr := warm.Verify(badProof, bad.req); werr == nil || werr.Error() != err.Error() {
				t.Fatalf("with the header cached: error = %v, want %v", werr, err)
			}

			res, err := v.Verify(c.spec.proof(t), c.req)
			if err != nil {
				t.Fatalf("the proof without the fault is refused: %v", err)
			}
			jkt, _ := Thumbprint(keys[kind].signer.Public())
			want := Result{JKT: jkt, JTI: c.spec.claims["jti"].(string), IssuedAt: clk.t, Alg: canonical(kind)}
			if res != want {
				t.Fatalf("Result = %+v, want %+v", res, want)
			}
		})
	}
}

// TestVerifyAccepts covers what must pass: each algorithm and spelling, the limits
// of each rule, and what RFC 9449 and RFC 7515 let a client add.
func TestVerifyAccepts(t *testing.T) {
	ec := newECKey(t)
	nonces := mustNonceSource(t, "a nonce secret of at least 32 bytes, for tests", time.Minute)
	tests := []struct {
		name string
		key  testKey
		edit func(*proofCase)
	}{
		{name: "ES256", key: ec},
		{name: "EdDSA", key: newEdKey(t, "EdDSA")},
		{name: "Ed25519 (RFC 9864)", key: newEdKey(t, "Ed25519")},
		{name: "RS256 2048", key: rsaKey(t, 2048)},
		{name: "RS256 4096", key: rsaKey(t, 4096)},
		{name: "typ with application/", key: ec, edit: setHeader("typ", "application/dpop+jwt")},
		{name: "typ in another case", key: ec, edit: setHeader("typ", "DPoP+JWT")},
		{name: "other header members", key: ec, edit: func(c *proofCase) {
			c.spec.header["kid"] = "k1"
			c.spec.header["x-extra"] = map[string]any{"nested": []int{1, 2}}
		}},
		{name: "WebCrypto jwk members", key: ec, edit: func(c *proofCase) {
			c.spec.jwk()["ext"] = true
			c.spec.jwk()["key_ops"] = []string{"verify"}
			c.spec.jwk()["use"] = "sig"
			c.spec.jwk()["kid"] = "browser"
		}},
		{name: "jwk member D (names are case-sensitive; d is not there)", key: ec, edit: setJWK("D", "x")},
		{name: "jwk alg matching", key: ec, edit: setJWK("alg", "ES256")},
		{name: "jwk alg EdDSA, header Ed25519", key: newEdKey(t, "Ed25519"), edit: setJWK("alg", "EdDSA")},
		{name: "jwk alg Ed25519, header EdDSA", key: newEdKey(t, "EdDSA"), edit: setJWK("alg", "Ed25519")},
		{name: "other claims", key: ec, edit: func(c *proofCase) {
			c.spec.claims["sub"] = "x"
			c.spec.claims["exp"] = c.now.Add(time.Minute).Unix()
		}},
		{name: "iat at the oldest instant", key: ec, edit: func(c *proofCase) {
			c.spec.claims["iat"] = c.now.Add(-DefaultMaxAge - DefaultLeeway).Unix()
		}},
		{name: "iat at the newest instant", key: ec, edit: func(c *proofCase) {
			c.spec.claims["iat"] = c.now.Add(DefaultLeeway).Unix()
		}},
		{name: "iat with a fraction", key: ec, edit: setClaim("iat", 1_799_999_999.5)},
		{name: "jti of the longest length", key: ec, edit: setClaim("jti", strings.Repeat("j", MaxJTILen))},
		{name: "JSON escapes", key: ec, edit: func(c *proofCase) {
			c.spec.editClaims = func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"htm":"POST"`), []byte(`"htm":"\u0050OST"`), 1)
			}
		}},
		{name: "no access token, no ath", key: ec, edit: func(c *proofCase) {
			c.req.AccessToken = ""
			delete(c.spec.claims, "ath")
		}},
		{name: "no access token, ath ignored", key: ec, edit: func(c *proofCase) {
			c.req.AccessToken = ""
			c.spec.claims["ath"] = "anything"
		}},
		{name: "nonce not required, nonce ignored", key: ec, edit: setClaim("nonce", "anything")},
		{name: "nonce of the current window", key: ec, edit: func(c *proofCase) {
			c.opts = append(c.opts, WithNonces(nonces))
			c.spec.claims["nonce"] = nonces.Nonce(c.now)
		}},
		{name: "nonce of the previous window", key: ec, edit: func(c *proofCase) {
			c.opts = append(c.opts, WithNonces(nonces))
			c.spec.claims["nonce"] = nonces.Nonce(c.now.Add(-time.Minute))
		}},
		{name: "request with a query", key: ec, edit: setURL(t, "https://gateway.example/v1/chat/completions?stream=true#x")},
		{name: "binding not checked", key: ec, edit: func(c *proofCase) { c.req.JKT = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newTestClock()
			c := newCase(t, tt.key, clk.t)
			if tt.edit != nil {
				tt.edit(c)
			}
			v := mustVerifier(t, append([]Option{WithClock(clk.now)}, c.opts...)...)
			proof := c.spec.proof(t)
			res, err := v.Verify(proof, c.req)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			jkt, _ := Thumbprint(tt.key.signer.Public())
			if !EqualThumbprint(res.JKT, jkt) || res.Alg != canonical(tt.key.alg) || res.JTI != c.spec.claims["jti"] {
				t.Fatalf("Result = %+v, want JKT %s, alg %s", res, jkt, canonical(tt.key.alg))
			}
		})
	}
}

// TestVerifyNow shows that Request.Now wins over the verifier's clock.
func TestVerifyNow(t *testing.T) {
	clk := newTestClock()
	c := newCase(t, newECKey(t), clk.t)
	v := mustVerifier(t, WithClock(func() time.Time { return clk.t.Add(time.Hour) }))
	if _, err := v.Verify(c.spec.proof(t), c.req); !errors.Is(err, ErrProofIAT) {
		t.Fatalf("with the verifier's clock an hour later: error = %v, want %v", err, ErrProofIAT)
	}
	c.req.Now = clk.t
	if _, err := v.Verify(c.spec.proof(t), c.req); err != nil {
		t.Fatalf("with Request.Now at iat: %v", err)
	}
}

// TestVerifyMaxAgeAndLeeway checks the window moves with the options.
func TestVerifyMaxAgeAndLeeway(t *testing.T) {
	key := newECKey(t)
	for _, tt := range []struct {
		name    string
		age     time.Duration // now - iat
		wantErr error
	}{
		{name: "10s old", age: 10 * time.Second},
		{name: "12s old, at the limit", age: 12 * time.Second},
		{name: "13s old", age: 13 * time.Second, wantErr: ErrProofIAT},
		{name: "2s ahead, at the limit", age: -2 * time.Second},
		{name: "3s ahead", age: -3 * time.Second, wantErr: ErrProofIAT},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := newTestClock()
			c := newCase(t, key, clk.t.Add(-tt.age))
			v := mustVerifier(t, WithClock(clk.now), WithMaxAge(10*time.Second), WithLeeway(2*time.Second))
			_, err := v.Verify(c.spec.proof(t), c.req)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestNewVerifierRefusesBadOptions(t *testing.T) {
	for _, tt := range []struct {
		name string
		opt  Option
	}{
		{"zero max age", WithMaxAge(0)},
		{"negative leeway", WithLeeway(-time.Second)},
		{"nil clock", WithClock(nil)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if v, err := NewVerifier(tt.opt); err == nil {
				t.Fatalf("NewVerifier = %v, want an error", v)
			}
		})
	}
}

// TestErrorsNeverQuoteTheProof checks that no error text carries the proof, the
// access token, or a part of either.
func TestErrorsNeverQuoteTheProof(t *testing.T) {
	clk := newTestClock()
	key := newECKey(t)
	faults := []func(*proofCase){
		setClaim("htu", "https://secret-host.example/secret-path"),
		setClaim("htm", "SECRETMETHOD"),
		setClaim("jti", strings.Repeat("secretjti", 40)),
		setHeader("alg", "SecretAlg"),
		setHeader("typ", "secret+typ"),
		setJWK("crv", "SecretCurve"),
		setClaim("ath", "secretath"),
	}
	for _, f := range faults {
		c := newCase(t, key, clk.t)
		f(c)
		proof := c.spec.proof(t)
		_, err := mustVerifier(t, WithClock(clk.now)).Verify(proof, c.req)
		if err == nil {
			t.Fatal("a faulty proof was accepted")
		}
		msg := strings.ToLower(err.Error())
		_, desc := Reason(err)
		for _, s := range []string{"secret", proof[:20], testAccessToken[:20], c.spec.jwk()["x"].(string)[:10]} {
			if strings.Contains(msg, strings.ToLower(s)) || strings.Contains(strings.ToLower(desc), strings.ToLower(s)) {
				t.Fatalf("error %q or description %q quotes %q", err, desc, s)
			}
		}
	}
}

func TestReason(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range reasons {
		label, desc := Reason(fmt.Errorf("context: %w", r.err))
		if label != r.label || desc != r.err.Error() {
			t.Errorf("Reason(%v) = %q, %q", r.err, label, desc)
		}
		if !strings.HasPrefix(label, "dpop_") || seen[label] {
			t.Errorf("label %q is not a unique dpop_ label", label)
		}
		seen[label] = true
	}
	if label, desc := Reason(errors.New("other")); label != "dpop_invalid" || desc != "DPoP proof is invalid" {
		t.Errorf("Reason(other) = %q, %q", label, desc)
	}
	if got := Labels(); len(got) != len(reasons)+1 || got[len(got)-1] != "dpop_invalid" {
		t.Errorf("Labels() = %v", got)
	}
}
