package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"unicode/utf16"
)

// attackRow is one forged or malformed token and the sentinel it must be refused
// with (nil: accepted).
type attackRow struct {
	name    string
	token   string
	wantErr error
}

// attackFixture is a key set of one HMAC key ("k1") and one Ed25519 key ("ed1"),
// with a second HMAC key ("k2") and an attacker's Ed25519 key outside it.
type attackFixture struct {
	clk      *testClock
	k1       *Key
	k2       *Key // not in the set
	ed1      ed25519.PrivateKey
	edKey    *Key // ed1 in the set
	attacker ed25519.PrivateKey
	ks       *KeySet
}

func newAttackFixture(t *testing.T) *attackFixture {
	t.Helper()
	_, ed1, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, attacker, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edKey, err := NewPrivateKey("ed1", EdDSA, ed1)
	if err != nil {
		t.Fatal(err)
	}
	f := &attackFixture{
		clk:      newTestClock(),
		k1:       mustHMACKey(t, "k1", HS256, testSecret),
		k2:       mustHMACKey(t, "k2", HS256, []byte(strings.Repeat("2", 32))),
		ed1:      ed1,
		edKey:    edKey,
		attacker: attacker,
	}
	f.ks = mustKeySet(t, "k1", f.k1, edKey)
	return f
}

// edSign signs header.payload (raw JSON) with an Ed25519 key.
func edSign(priv ed25519.PrivateKey, header, payload string) string {
	si := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	return si + "." + enc.EncodeToString(ed25519.Sign(priv, []byte(si)))
}

// resign signs the segments header.payload, given already encoded, with the test
// secret, so that only their encoding can make the token fail.
func resign(header, payload string) string {
	si := header + "." + payload
	return si + "." + enc.EncodeToString(hmacSum(HS256, testSecret, si))
}

// padTo returns an HS256 token of claims, with an unknown "pad" claim and
// whitespace in the header sized so that the token is exactly n bytes long.
func padTo(t *testing.T, claims map[string]any, n int) string {
	t.Helper()
	for spaces := range 4 {
		header := strings.Replace(hs256Header, ",", ","+strings.Repeat(" ", spaces), 1)
		for pad := 0; pad < n; pad++ {
			tok := hmacSign(HS256, testSecret, header, mustJSON(t, with(claims, "pad", strings.Repeat("p", pad))))
			if len(tok) == n {
				return tok
			}
			if len(tok) > n {
				break
			}
		}
	}
	t.Fatalf("no padding makes a token of %d bytes", n)
	return ""
}

// attackRows are the refusals the main table in verifier_test.go does not hold:
// more time-claim shapes, audience and issuer shapes, duplicate and case-variant
// member names, encodings, keys and algorithms of a mixed key set, the sealed
// claim, and the size bound at its edge.
func attackRows(t *testing.T, f *attackFixture) []attackRow {
	t.Helper()
	now := f.clk.t
	valid := claimsAt(now)
	sign := func(header string, claims map[string]any) string {
		return hmacSign(HS256, testSecret, header, mustJSON(t, claims))
	}
	raw := func(claims map[string]any, from, to string) string {
		p := mustJSON(t, claims)
		if !strings.Contains(p, from) {
			t.Fatalf("payload %s lacks %s", p, from)
		}
		return hmacSign(HS256, testSecret, hs256Header, strings.Replace(p, from, to, 1))
	}
	good := sign(hs256Header, valid)
	segs := strings.Split(good, ".")
	h, p, sig := segs[0], segs[1], segs[2]

	jti := valid["jti"].(string)
	sealed := with(valid, "ak", nil, "aks", f.k1.seal.seal(testAPIKey, jti))
	aks := sealed["aks"].(string)
	edHeader := `{"alg":"EdDSA","kid":"ed1","typ":"JWT"}`
	// ed1 has its own seal secret, and with it its own fingerprint key.
	edValid := with(valid, "akf", f.edKey.seal.fingerprint(testAPIKey))
	edPub := f.ed1.Public().(ed25519.PublicKey)
	attackerJWK := `{"kty":"OKP","crv":"Ed25519","x":"` + enc.EncodeToString(f.attacker.Public().(ed25519.PublicKey)) + `"}`

	// A payload whose standard base64 differs from its base64url form.
	stdAlphabet := func() string {
		for i := range 64 {
			pl := mustJSON(t, with(valid, "x", strings.Repeat("?", i)))
			if s := base64.RawStdEncoding.EncodeToString([]byte(pl)); strings.ContainsAny(s, "+/") {
				return resign(h, s)
			}
		}
		t.Fatal("no payload needs + or / in standard base64")
		return ""
	}()
	utf16Payload := func() string {
		var b []byte
		for _, u := range utf16.Encode([]rune(mustJSON(t, valid))) {
			b = append(b, byte(u>>8), byte(u))
		}
		return hmacSign(HS256, testSecret, hs256Header, string(b))
	}()

	return []attackRow{
		// Accepted shapes, so that the refusals below are refusals of one change.
		{"valid", good, nil},
		{"valid sealed", sign(hs256Header, sealed), nil},
		{"valid EdDSA", edSign(f.ed1, edHeader, mustJSON(t, edValid)), nil},
		{"EdDSA with the HMAC key's fingerprint", edSign(f.ed1, edHeader, mustJSON(t, valid)), ErrTokenAPIKeyInvalid},
		{"valid aud array of ours alone", sign(hs256Header, with(valid, "aud", []string{testAudience})), nil},
		{"valid 29s past exp within leeway", sign(hs256Header, with(valid, "exp", now.Unix()-29)), nil},
		{"valid case-variant claim EXP is an unknown claim", sign(hs256Header, with(valid, "EXP", 1)), nil},
		{"valid deeply nested unknown claim", raw(valid, `"aud":`, `"deep":`+strings.Repeat("[", 500)+strings.Repeat("]", 500)+`,"aud":`), nil},
		{"valid typ null is typ absent", sign(`{"alg":"HS256","kid":"k1","typ":null}`, valid), nil},
		{"valid at exactly MaxTokenSize", padTo(t, valid, MaxTokenSize), nil},

		// Size: one validly signed byte over the bound is refused like garbage.
		{"valid token one byte over MaxTokenSize", padTo(t, valid, MaxTokenSize+1), ErrTokenTooLarge},

		// Time claims: NumericDates are positive integers in plain integer syntax.
		{"exp 30s past within leeway edge", sign(hs256Header, with(valid, "exp", now.Unix()-30)), ErrTokenExpired},
		{"exp zero", sign(hs256Header, with(valid, "exp", 0)), ErrTokenClaimMissing},
		{"exp negative zero", raw(valid, `"exp":`+jsonInt(now.Unix()+600), `"exp":-0`), ErrTokenClaimMissing},
		{"exp exponent form", sign(hs256Header, with(valid, "exp", json.RawMessage("1.8000006e9"))), ErrTokenMalformed},
		{"exp integer with .0", sign(hs256Header, with(valid, "exp", json.RawMessage("1800000600.0"))), ErrTokenMalformed},
		{"exp beyond int64", sign(hs256Header, with(valid, "exp", json.RawMessage("99999999999999999999"))), ErrTokenMalformed},
		{"exp int64 max", sign(hs256Header, with(valid, "exp", json.RawMessage("9223372036854775807"))), ErrTokenMalformed},
		{"exp int64 min", sign(hs256Header, with(valid, "exp", json.RawMessage("-9223372036854775808"))), ErrTokenMalformed},
		{"exp boolean", sign(hs256Header, with(valid, "exp", true)), ErrTokenMalformed},
		{"exp array", sign(hs256Header, with(valid, "exp", []int64{now.Unix() + 600})), ErrTokenMalformed},
		{"exp leading zero", raw(valid, `"exp":`+jsonInt(now.Unix()+600), `"exp":0`+jsonInt(now.Unix()+600)), ErrTokenMalformed},
		{"nbf negative", sign(hs256Header, with(valid, "nbf", -1)), ErrTokenMalformed},
		{"nbf huge", sign(hs256Header, with(valid, "nbf", 1e30)), ErrTokenMalformed},
		{"nbf past year 9999", sign(hs256Header, with(valid, "nbf", int64(maxNumericDate)+1)), ErrTokenMalformed},
		{"nbf string", sign(hs256Header, with(valid, "nbf", "1800000000")), ErrTokenMalformed},
		{"nbf null", sign(hs256Header, with(valid, "nbf", json.RawMessage("null"))), ErrTokenClaimMissing},
		{"iat negative", sign(hs256Header, with(valid, "iat", -1)), ErrTokenMalformed},
		{"iat huge", sign(hs256Header, with(valid, "iat", 1e30)), ErrTokenMalformed},
		{"iat past year 9999", sign(hs256Header, with(valid, "iat", int64(maxNumericDate)+1)), ErrTokenMalformed},
		{"iat float", sign(hs256Header, with(valid, "iat", 1800000000.5)), ErrTokenMalformed},
		{"iat null", sign(hs256Header, with(valid, "iat", json.RawMessage("null"))), ErrTokenClaimMissing},
		{"sst missing", sign(hs256Header, with(valid, "sst", nil)), ErrTokenClaimMissing},
		{"sst negative", sign(hs256Header, with(valid, "sst", -5)), ErrTokenMalformed},

		// Issuer and audience are compared exactly.
		{"iss case variant", sign(hs256Header, with(valid, "iss", strings.ToUpper(testIssuer))), ErrTokenInvalidIssuer},
		{"iss trailing space", sign(hs256Header, with(valid, "iss", testIssuer+" ")), ErrTokenInvalidIssuer},
		{"iss empty", sign(hs256Header, with(valid, "iss", "")), ErrTokenClaimMissing},
		{"iss array", sign(hs256Header, with(valid, "iss", []string{testIssuer})), ErrTokenMalformed},
		{"aud case variant", sign(hs256Header, with(valid, "aud", strings.ToUpper(testAudience))), ErrTokenInvalidAudience},
		{"aud prefix of ours", sign(hs256Header, with(valid, "aud", testAudience[:len(testAudience)-1])), ErrTokenInvalidAudience},
		{"aud null", sign(hs256Header, with(valid, "aud", json.RawMessage("null"))), ErrTokenInvalidAudience},
		{"aud object", sign(hs256Header, with(valid, "aud", map[string]string{"aud": testAudience})), ErrTokenInvalidAudience},
		{"aud array of ours and a number", sign(hs256Header, with(valid, "aud", []any{testAudience, 1})), ErrTokenInvalidAudience},
		{"aud nested array", sign(hs256Header, with(valid, "aud", [][]string{{testAudience}})), ErrTokenInvalidAudience},
		{"aud array with null", sign(hs256Header, with(valid, "aud", []any{nil})), ErrTokenInvalidAudience},

		// Duplicate member names are refused, whatever their spelling or value.
		{"header duplicate typ", sign(`{"alg":"HS256","kid":"k1","typ":"JWT","typ":"JWT"}`, valid), ErrTokenMalformed},
		{"header duplicate alg escaped", sign(`{"alg":"HS256","\u0061lg":"none","kid":"k1"}`, valid), ErrTokenMalformed},
		{"header case-variant alg", sign(`{"alg":"HS256","Alg":"none","kid":"k1"}`, valid), ErrTokenUnsupportedHeader},
		{"duplicate iss claim", raw(valid, `"iss":`, `"iss":"evil","iss":`), ErrTokenMalformed},
		{"duplicate aud claim", raw(valid, `"aud":`, `"aud":"other","aud":`), ErrTokenMalformed},
		{"duplicate sub claim with equal values", raw(valid, `"sub":"user-1"`, `"sub":"user-1","sub":"user-1"`), ErrTokenMalformed},
		{"duplicate exp claim escaped", raw(valid, `"exp":`, `"\u0065xp":9999999999,"exp":`), ErrTokenMalformed},
		{"duplicate aks claim", func() string {
			p := mustJSON(t, sealed)
			return hmacSign(HS256, testSecret, hs256Header, strings.Replace(p, `"aks":`, `"aks":"`+aks+`","aks":`, 1))
		}(), ErrTokenMalformed},
		{"case-variant EXP instead of exp", sign(hs256Header, with(valid, "exp", nil, "EXP", now.Unix()+600)), ErrTokenClaimMissing},

		// Encoding: strict base64url and UTF-8 JSON only.
		{"header non-canonical trailing bits", resign(nonCanonical(t, h), p), ErrTokenMalformed},
		{"signature padded", h + "." + p + "." + sig + "=", ErrTokenMalformed},
		{"signature non-canonical trailing bits", h + "." + p + "." + nonCanonical(t, sig), ErrTokenMalformed},
		{"signature standard base64", h + "." + p + "." + base64.RawStdEncoding.EncodeToString(hmacSum(HS256, testSecret, h+"."+p)) + "+/", ErrTokenMalformed},
		{"payload standard base64 alphabet", stdAlphabet, ErrTokenMalformed},
		// Regression: base64's Strict mode skips CR and LF, so these were accepted
		// as other spellings of a valid token before the verifier's alphabet check.
		{"payload with a line break", resign(h, p[:10]+"\n"+p[10:]), ErrTokenMalformed},
		{"signature with a line break added to a valid token", h + "." + p + "." + sig[:10] + "\n" + sig[10:], ErrTokenMalformed},
		{"signature with CR LF appended to a valid token", good + "\r\n", ErrTokenMalformed},
		{"header with a line break", resign(h[:5]+"\r"+h[5:], p), ErrTokenMalformed},
		{"header segment empty", "." + p + "." + sig, ErrTokenMalformed},
		{"payload segment empty", resign(h, ""), ErrTokenMalformed},
		{"payload invalid UTF-8", raw(valid, `"sub":"user-1"`, "\"sub\":\"user-\xff\""), ErrTokenMalformed},
		{"payload UTF-16", utf16Payload, ErrTokenMalformed},
		{"payload with byte order mark", hmacSign(HS256, testSecret, hs256Header, "\ufeff"+mustJSON(t, valid)), ErrTokenMalformed},
		{"payload with trailing value", hmacSign(HS256, testSecret, hs256Header, mustJSON(t, valid)+"{}"), ErrTokenMalformed},
		{"five parts (JWE compact)", h + "." + p + "." + sig + ".x.y", ErrTokenMalformed},

		// Algorithms and keys of a mixed set.
		{"alg lower case hs256", sign(`{"alg":"hs256","kid":"k1"}`, valid), ErrTokenAlgorithm},
		{"alg with trailing space", sign(`{"alg":"HS256 ","kid":"k1"}`, valid), ErrTokenAlgorithm},
		{"alg number", sign(`{"alg":256,"kid":"k1"}`, valid), ErrTokenMalformed},
		{"alg null", sign(`{"alg":null,"kid":"k1"}`, valid), ErrTokenAlgorithm},
		{"alg none under Ed25519 kid", enc.EncodeToString([]byte(`{"alg":"none","kid":"ed1"}`)) + "." + p + ".", ErrTokenAlgorithm},
		{"EdDSA header under HMAC kid", edSign(f.ed1, `{"alg":"EdDSA","kid":"k1"}`, mustJSON(t, valid)), ErrTokenAlgorithm},
		{"HS256 under Ed25519 kid with raw public key as secret", hmacSign(HS256, edPub, `{"alg":"HS256","kid":"ed1"}`, mustJSON(t, valid)), ErrTokenAlgorithm},
		{"EdDSA under Ed25519 kid signed by another key", edSign(f.attacker, edHeader, mustJSON(t, edValid)), ErrTokenSignatureInvalid},
		{"EdDSA signature truncated", func() string {
			tok := edSign(f.ed1, edHeader, mustJSON(t, edValid))
			return tok[:len(tok)-2] // 63 of 64 signature bytes, canonically encoded
		}(), ErrTokenSignatureInvalid},
		{"kid of a key outside the set", hmacSign(HS256, []byte(strings.Repeat("2", 32)), `{"alg":"HS256","kid":"k2"}`, mustJSON(t, valid)), ErrTokenUnknownKey},
		{"kid of k1 signed with another secret", hmacSign(HS256, []byte(strings.Repeat("2", 32)), hs256Header, mustJSON(t, valid)), ErrTokenSignatureInvalid},
		{"kid with NUL", sign(`{"alg":"HS256","kid":"k1\u0000"}`, valid), ErrTokenUnknownKey},
		{"kid non-ASCII", sign(`{"alg":"HS256","kid":"k1é"}`, valid), ErrTokenUnknownKey},
		{"kid URL", sign(`{"alg":"HS256","kid":"http://127.0.0.1:1/k1"}`, valid), ErrTokenUnknownKey},
		{"kid SQL", sign(`{"alg":"HS256","kid":"k1' OR '1'='1"}`, valid), ErrTokenUnknownKey},
		{"kid object", sign(`{"alg":"HS256","kid":{"id":"k1"}}`, valid), ErrTokenMalformed},

		// Header members beyond alg, typ and kid.
		{"jwk with attacker key under Ed25519 kid", edSign(f.attacker, `{"alg":"EdDSA","kid":"ed1","jwk":`+attackerJWK+`}`, mustJSON(t, valid)), ErrTokenUnsupportedHeader},
		{"jwk with attacker key and no kid", edSign(f.attacker, `{"alg":"EdDSA","jwk":`+attackerJWK+`}`, mustJSON(t, valid)), ErrTokenUnsupportedHeader},
		{"crit null", sign(`{"alg":"HS256","kid":"k1","crit":null}`, valid), ErrTokenUnsupportedHeader},
		{"crit naming a registered member", sign(`{"alg":"HS256","kid":"k1","crit":["kid"]}`, valid), ErrTokenUnsupportedHeader},
		{"zip (compression)", sign(`{"alg":"HS256","kid":"k1","zip":"DEF"}`, valid), ErrTokenUnsupportedHeader},
		{"enc (JWE header)", sign(`{"alg":"HS256","kid":"k1","enc":"A256GCM"}`, valid), ErrTokenUnsupportedHeader},
		{"b64 false (unencoded payload)", sign(`{"alg":"HS256","kid":"k1","b64":false,"crit":["b64"]}`, valid), ErrTokenUnsupportedHeader},
		{"cty JWT (nested token)", sign(`{"alg":"HS256","kid":"k1","cty":"JWT"}`, valid), ErrTokenUnsupportedHeader},
		{"typ JOSE", sign(`{"alg":"HS256","kid":"k1","typ":"JOSE"}`, valid), ErrTokenUnsupportedHeader},
		{"typ number", sign(`{"alg":"HS256","kid":"k1","typ":1}`, valid), ErrTokenMalformed},

		// Another kind of JWT from the same issuer and key is not a session.
		{"generic JWT without jwtgate claims", sign(hs256Header, with(valid, "sid", nil, "sst", nil, "akf", nil, "ak", nil)), ErrTokenClaimMissing},
		{"sub empty", sign(hs256Header, with(valid, "sub", "")), ErrTokenClaimMissing},

		// The sealed API-key claim.
		{"sealed with jti altered", sign(hs256Header, with(sealed, "jti", "ffffffffffffffffffffffffffffffff")), ErrTokenAPIKeyInvalid},
		{"sealed extended", sign(hs256Header, with(sealed, "aks", aks+"AAAA")), ErrTokenAPIKeyInvalid},
		{"sealed nonce only", sign(hs256Header, with(sealed, "aks", aks[:16])), ErrTokenAPIKeyInvalid},
		{"sealed padded", sign(hs256Header, with(sealed, "aks", aks+"==")), ErrTokenAPIKeyInvalid},
		{"sealed under another key's seal", sign(hs256Header, with(sealed, "aks", f.k2.seal.seal(testAPIKey, jti))), ErrTokenAPIKeyInvalid},
		{"sealed of another API key", sign(hs256Header, with(sealed, "aks", f.k1.seal.seal("sk-other-key", jti))), ErrTokenAPIKeyInvalid},
		{"sealed value in the plain claim", sign(hs256Header, with(valid, "ak", aks)), ErrTokenAPIKeyInvalid},
		{"sealed empty", sign(hs256Header, with(sealed, "aks", "")), ErrTokenClaimMissing},
		{"sealed number", sign(hs256Header, with(sealed, "aks", 5)), ErrTokenMalformed},
		{"bad signature and a bad seal: the signature is checked first", func() string {
			tok := sign(hs256Header, with(sealed, "aks", flipLast(aks)))
			return tok[:strings.LastIndexByte(tok, '.')+1] + sig
		}(), ErrTokenSignatureInvalid},
		{"plain API key too long", sign(hs256Header, with(valid, "ak", strings.Repeat("k", MaxAPIKeyLen+1), "akf", testFingerprint(strings.Repeat("k", MaxAPIKeyLen+1)))), ErrTokenAPIKeyInvalid},
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestVerifyAttacks runs the extra attack rows against a verifier without a
// cache, and against one with a cache that already holds a valid token: a cache
// must never turn a refusal into an acceptance, nor remember a refused token.
func TestVerifyAttacks(t *testing.T) {
	f := newAttackFixture(t)
	rows := attackRows(t, f)
	for _, cached := range []bool{false, true} {
		opts := []VerifierOption{WithClock(f.clk.now)}
		if cached {
			opts = append(opts, WithCache(DefaultCacheSize))
		}
		v := mustVerifier(t, f.ks, opts...)
		if cached {
			if _, err := v.Verify(t.Context(), rows[0].token); err != nil {
				t.Fatalf("priming the cache: %v", err)
			}
		}
		name := "uncached"
		if cached {
			name = "cached"
		}
		t.Run(name, func(t *testing.T) {
			for _, tt := range rows {
				t.Run(tt.name, func(t *testing.T) {
					// Twice: a refusal is the same on a repeat, when a cache could answer.
					for range 2 {
						c, err := v.Verify(t.Context(), tt.token)
						if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
							t.Fatalf("Verify: err = %v, want %v", err, tt.wantErr)
						}
						if err == nil {
							if c.APIKey != testAPIKey {
								t.Fatalf("accepted without the test key: %v", c)
							}
							continue
						}
						if c.ID != "" {
							t.Fatalf("Verify returned claims with an error")
						}
						if len(tt.token) > 16 && strings.Contains(err.Error(), tt.token) {
							t.Errorf("error text contains the token")
						}
						if strings.Contains(err.Error(), testAPIKey) || strings.Contains(err.Error(), string(testSecret)) {
							t.Errorf("error text contains the API key or the secret")
						}
					}
				})
			}
			if cached {
				want := 0
				for _, tt := range rows {
					if tt.wantErr == nil && len(tt.token) <= MaxCachedTokenSize {
						want++
					}
				}
				if n := v.cache.lru.Len(); n != want {
					t.Errorf("cache holds %d entries, want %d (the accepted tokens only)", n, want)
				}
			}
		})
	}
}

// TestOversizedTokenRefusedBeforeDecoding shows that a token over MaxTokenSize is
// refused before any decoding: refusing 1 MiB allocates far less than decoding
// even part of it would (base64 alone would take 768 KiB per call).
func TestOversizedTokenRefusedBeforeDecoding(t *testing.T) {
	v := mustVerifier(t, mustKeySet(t, "", mustHMACKey(t, "k1", HS256, testSecret)))
	ctx := t.Context()
	f := newAttackFixture(t)
	valid := padTo(t, claimsAt(f.clk.t), MaxTokenSize+1) // validly signed, one byte over
	huge := strings.Repeat("eyJhbGciOiJIUzI1NiJ9.", (1<<20)/21)
	for _, tok := range []string{strings.Repeat("e", MaxTokenSize+1), valid, huge} {
		if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrTokenTooLarge) {
			t.Fatalf("%d bytes: err = %v, want ErrTokenTooLarge", len(tok), err)
		}
	}
	const runs = 50
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		_, _ = v.Verify(ctx, huge)
	}
	runtime.ReadMemStats(&after)
	if perCall := (after.TotalAlloc - before.TotalAlloc) / runs; perCall > 16<<10 {
		t.Errorf("refusing a 1 MiB token allocates %d bytes per call: it is being decoded", perCall)
	}
}

// TestSealedClaimRevealsOnlyLength: the sealed claim's length depends only on the
// API key's length (RFC 8725 section 2.4: no compression, so the ciphertext
// length says nothing more), and two seals of one key differ (random nonce).
func TestSealedClaimRevealsOnlyLength(t *testing.T) {
	k := mustHMACKey(t, "k1", HS256, testSecret)
	a := k.seal.seal("sk-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "jti")
	b := k.seal.seal("sk-0123456789abcdefghijklmnopqrstuv", "jti")
	c := k.seal.seal("sk-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "jti")
	if len(a) != len(b) {
		t.Errorf("sealed lengths differ for keys of equal length: %d, %d", len(a), len(b))
	}
	if a == c {
		t.Errorf("sealing the same key twice gave the same claim")
	}
	long := k.seal.seal(strings.Repeat("a", 100), "jti")
	if len(long) <= len(a) {
		t.Errorf("a longer key sealed no longer (%d vs %d): the test is not measuring the length", len(long), len(a))
	}
}
