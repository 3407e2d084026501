package token

import (
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"
)

const hs256Header = `{"alg":"HS256","kid":"k1","typ":"JWT"}`

// claimsAt returns a valid plain-mode claim set issued at now.
func claimsAt(now time.Time) map[string]any {
	u := now.Unix()
	return map[string]any{
		"iss": testIssuer, "aud": testAudience, "sub": "user-1",
		"iat": u, "nbf": u, "exp": u + 600, "sst": u,
		"jti": "00112233445566778899aabbccddeeff", "sid": "ffeeddccbbaa99887766554433221100",
		"akf": testFingerprint(testAPIKey), "ak": testAPIKey,
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	c := maps.Clone(m)
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestVerifyRefusals(t *testing.T) {
	clk := newTestClock()
	k1 := mustHMACKey(t, "k1", HS256, testSecret)
	ks := mustKeySet(t, "k1", k1)
	v := mustVerifier(t, ks, WithClock(clk.now))
	for _, tt := range refusalRows(t, clk.t, k1) {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(t.Context(), tt.token)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Verify: err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if c.ID != "" {
					t.Errorf("Verify returned claims with an error")
				}
				if tt.token != "" && strings.Contains(err.Error(), tt.token) {
					t.Errorf("error text contains the token")
				}
				if strings.Contains(err.Error(), testAPIKey) {
					t.Errorf("error text contains the API key")
				}
				return
			}
			if c.APIKey != testAPIKey {
				t.Errorf("APIKey = %q, want the test key", c.APIKey)
			}
		})
	}
}

// refusalRows is the main refusal table, for a verifier of the key set {k1} at the
// clock's now, with default options.
func refusalRows(t *testing.T, now time.Time, k1 *Key) []attackRow {
	t.Helper()
	valid := claimsAt(now)
	sign := func(header string, claims map[string]any) string {
		return hmacSign(HS256, testSecret, header, mustJSON(t, claims))
	}
	good := sign(hs256Header, valid)
	h, p, _ := strings.Cut(good, ".")
	p, _, _ = strings.Cut(p, ".")

	// A sealed claim taken from another token, re-signed with the real key, so only
	// the seal binding can catch it.
	other := k1.seal.seal(testAPIKey, "another-jti-0000000000000000000")
	sealed := with(valid, "ak", nil, "aks", k1.seal.seal(testAPIKey, valid["jti"].(string)))

	return []attackRow{
		{"valid", good, nil},
		{"valid sealed", sign(hs256Header, sealed), nil},
		{"valid lowercase typ", sign(`{"alg":"HS256","kid":"k1","typ":"jwt"}`, valid), nil},
		{"valid without typ", sign(`{"alg":"HS256","kid":"k1"}`, valid), nil},
		{"valid aud array", sign(hs256Header, with(valid, "aud", []string{"x", testAudience})), nil},
		{"valid within leeway after exp", sign(hs256Header, with(valid, "exp", now.Unix()-10)), nil},
		{"valid unknown claim ignored", sign(hs256Header, with(valid, "extra", 1)), nil},
		{"valid lifetime of max ttl plus leeway", sign(hs256Header, with(valid, "exp", now.Unix()+3600+30)), nil},

		{"empty", "", ErrTokenMalformed},
		{"one part", "abc", ErrTokenMalformed},
		{"two parts", "abc.def", ErrTokenMalformed},
		{"four parts", good + ".x", ErrTokenMalformed},
		{"dots only", "..", ErrTokenMalformed},
		{"8 KiB + 1", strings.Repeat("a", MaxTokenSize+1), ErrTokenTooLarge},
		{"64 KiB", strings.Repeat("a.", 32<<10), ErrTokenTooLarge},
		{"1 MiB", strings.Repeat("x", 1<<20), ErrTokenTooLarge},

		{"alg none", sign(`{"alg":"none","kid":"k1"}`, valid), ErrTokenAlgorithm},
		{"alg None", sign(`{"alg":"None","kid":"k1"}`, valid), ErrTokenAlgorithm},
		{"alg NONE", sign(`{"alg":"NONE","kid":"k1"}`, valid), ErrTokenAlgorithm},
		{"alg nOnE", sign(`{"alg":"nOnE","kid":"k1"}`, valid), ErrTokenAlgorithm},
		{"alg none without signature", enc.EncodeToString([]byte(`{"alg":"none","kid":"k1"}`)) + "." + p + ".", ErrTokenAlgorithm},
		{"alg empty", sign(`{"alg":"","kid":"k1"}`, valid), ErrTokenAlgorithm},
		{"alg missing", sign(`{"kid":"k1"}`, valid), ErrTokenAlgorithm},
		{"alg HS384 under HS256 key", hmacSign(HS384, testSecret, `{"alg":"HS384","kid":"k1"}`, mustJSON(t, valid)), ErrTokenAlgorithm},
		{"alg HS512 under HS256 key", hmacSign(HS512, testSecret, `{"alg":"HS512","kid":"k1"}`, mustJSON(t, valid)), ErrTokenAlgorithm},
		{"alg RS256 under HS256 key", sign(`{"alg":"RS256","kid":"k1"}`, valid), ErrTokenAlgorithm},

		{"signature stripped", h + "." + p + ".", ErrTokenSignatureInvalid},
		{"signature of other secret", hmacSign(HS256, []byte(strings.Repeat("z", 32)), hs256Header, mustJSON(t, valid)), ErrTokenSignatureInvalid},
		{"payload altered under old signature", h + "." + enc.EncodeToString([]byte(mustJSON(t, with(valid, "sub", "admin")))) + "." + strings.Split(good, ".")[2], ErrTokenSignatureInvalid},
		{"signature not base64", h + "." + p + ".!!!", ErrTokenMalformed},

		{"kid unknown", sign(`{"alg":"HS256","kid":"k2"}`, valid), ErrTokenUnknownKey},
		{"kid empty", sign(`{"alg":"HS256","kid":""}`, valid), ErrTokenUnknownKey},
		{"kid missing", sign(`{"alg":"HS256"}`, valid), ErrTokenUnknownKey},
		{"kid path", sign(`{"alg":"HS256","kid":"../../../etc/passwd"}`, valid), ErrTokenUnknownKey},
		{"kid very long", sign(`{"alg":"HS256","kid":"`+strings.Repeat("k", 4000)+`"}`, valid), ErrTokenUnknownKey},
		{"kid number", sign(`{"alg":"HS256","kid":1}`, valid), ErrTokenMalformed},

		{"crit unknown", sign(`{"alg":"HS256","kid":"k1","crit":["x-ext"],"x-ext":1}`, valid), ErrTokenUnsupportedHeader},
		{"crit empty list", sign(`{"alg":"HS256","kid":"k1","crit":[]}`, valid), ErrTokenUnsupportedHeader},
		{"jku", sign(`{"alg":"HS256","kid":"k1","jku":"http://127.0.0.1:1/jwks"}`, valid), ErrTokenUnsupportedHeader},
		{"x5u", sign(`{"alg":"HS256","kid":"k1","x5u":"http://127.0.0.1:1/cert"}`, valid), ErrTokenUnsupportedHeader},
		{"jwk", sign(`{"alg":"HS256","kid":"k1","jwk":{"kty":"oct","k":"AAAA"}}`, valid), ErrTokenUnsupportedHeader},
		{"x5c", sign(`{"alg":"HS256","kid":"k1","x5c":["MIIB"]}`, valid), ErrTokenUnsupportedHeader},
		{"typ other", sign(`{"alg":"HS256","kid":"k1","typ":"at+jwt"}`, valid), ErrTokenUnsupportedHeader},
		{"header case variant", sign(`{"ALG":"HS256","kid":"k1"}`, valid), ErrTokenUnsupportedHeader},
		{"header duplicate alg", sign(`{"alg":"none","alg":"HS256","kid":"k1"}`, valid), ErrTokenMalformed},
		{"header duplicate kid", sign(`{"alg":"HS256","kid":"k2","kid":"k1"}`, valid), ErrTokenMalformed},
		{"header not JSON", sign(`{"alg":"HS256",`, valid), ErrTokenMalformed},
		{"header array", sign(`["HS256"]`, valid), ErrTokenMalformed},
		{"header padded", enc.EncodeToString([]byte(hs256Header)) + "=." + p + ".x", ErrTokenMalformed},

		{"exp string", sign(hs256Header, with(valid, "exp", "9999999999")), ErrTokenMalformed},
		{"exp float", sign(hs256Header, with(valid, "exp", 1800000600.5)), ErrTokenMalformed},
		{"exp negative", sign(hs256Header, with(valid, "exp", -1)), ErrTokenMalformed},
		{"exp huge", sign(hs256Header, with(valid, "exp", 1e30)), ErrTokenMalformed},
		{"exp past year 9999", sign(hs256Header, with(valid, "exp", int64(maxNumericDate)+1)), ErrTokenMalformed},
		{"exp null", sign(hs256Header, with(valid, "exp", json.RawMessage("null"))), ErrTokenClaimMissing},
		{"exp missing", sign(hs256Header, with(valid, "exp", nil)), ErrTokenClaimMissing},
		{"nbf missing", sign(hs256Header, with(valid, "nbf", nil)), ErrTokenClaimMissing},
		{"iat missing", sign(hs256Header, with(valid, "iat", nil)), ErrTokenClaimMissing},
		{"iat string", sign(hs256Header, with(valid, "iat", "1800000000")), ErrTokenMalformed},
		{"nbf float", sign(hs256Header, with(valid, "nbf", 1.5)), ErrTokenMalformed},
		{"sst after iat", sign(hs256Header, with(valid, "sst", now.Unix()+1)), ErrTokenMalformed},
		{"expired", sign(hs256Header, with(valid, "exp", now.Unix()-31)), ErrTokenExpired},
		{"not valid yet", sign(hs256Header, with(valid, "nbf", now.Unix()+31)), ErrTokenNotValidYet},
		{"lifetime over max ttl plus leeway", sign(hs256Header, with(valid, "exp", now.Unix()+3600+31)), ErrTokenLifetime},
		{"lifetime of years", sign(hs256Header, with(valid, "exp", now.Unix()+10*365*24*3600)), ErrTokenLifetime},
		{"lifetime over max ttl, issued earlier", sign(hs256Header, with(valid, "iat", now.Unix()-7200, "sst", now.Unix()-7200, "nbf", now.Unix()-7200)), ErrTokenLifetime},
		{"issued in future", sign(hs256Header, with(valid, "iat", now.Unix()+31, "sst", now.Unix()+31, "nbf", now.Unix())), ErrTokenIssuedInFuture},

		{"iss wrong", sign(hs256Header, with(valid, "iss", "evil")), ErrTokenInvalidIssuer},
		{"iss missing", sign(hs256Header, with(valid, "iss", nil)), ErrTokenClaimMissing},
		{"aud wrong", sign(hs256Header, with(valid, "aud", "other")), ErrTokenInvalidAudience},
		{"aud missing", sign(hs256Header, with(valid, "aud", nil)), ErrTokenClaimMissing},
		{"aud array without ours", sign(hs256Header, with(valid, "aud", []string{"a", "b"})), ErrTokenInvalidAudience},
		{"aud empty array", sign(hs256Header, with(valid, "aud", []string{})), ErrTokenInvalidAudience},
		{"aud number", sign(hs256Header, with(valid, "aud", 7)), ErrTokenInvalidAudience},
		{"sub missing", sign(hs256Header, with(valid, "sub", nil)), ErrTokenClaimMissing},
		{"jti missing", sign(hs256Header, with(valid, "jti", nil)), ErrTokenClaimMissing},

		{"duplicate exp claim", hmacSign(HS256, testSecret, hs256Header, strings.Replace(mustJSON(t, valid), `"exp":`, `"exp":9999999999,"exp":`, 1)), ErrTokenMalformed},
		{"duplicate ak claim", hmacSign(HS256, testSecret, hs256Header, strings.Replace(mustJSON(t, valid), `"ak":`, `"ak":"other-key","ak":`, 1)), ErrTokenMalformed},
		{"payload not object", hmacSign(HS256, testSecret, hs256Header, `[1,2]`), ErrTokenMalformed},
		{"payload padded", func() string {
			si := h + "." + p + "="
			return si + "." + enc.EncodeToString(hmacSum(HS256, testSecret, si))
		}(), ErrTokenMalformed},
		{"payload non-canonical trailing bits", func() string {
			seg := nonCanonical(t, p)
			si := h + "." + seg
			return si + "." + enc.EncodeToString(hmacSum(HS256, testSecret, si))
		}(), ErrTokenMalformed},

		{"api key missing", sign(hs256Header, with(valid, "ak", nil)), ErrTokenClaimMissing},
		{"api key plain and sealed", sign(hs256Header, with(sealed, "ak", testAPIKey)), ErrTokenMalformed},
		{"api key fingerprint unkeyed (SHA-256 prefix)", sign(hs256Header, with(valid, "akf", Fingerprint(testAPIKey))), ErrTokenAPIKeyInvalid},
		{"api key fingerprint under another secret", sign(hs256Header, with(valid, "akf", mustKeySet(t, "", mustHMACKey(t, "k9", HS256, []byte(strings.Repeat("o", 32)))).Fingerprint(testAPIKey))), ErrTokenAPIKeyInvalid},
		{"api key fingerprint mismatch", sign(hs256Header, with(valid, "akf", testFingerprint("other"))), ErrTokenAPIKeyInvalid},
		{"api key with space", sign(hs256Header, with(valid, "ak", "a b", "akf", testFingerprint("a b"))), ErrTokenAPIKeyInvalid},
		{"sealed altered", sign(hs256Header, with(sealed, "aks", flipLast(sealed["aks"].(string)))), ErrTokenAPIKeyInvalid},
		{"sealed truncated", sign(hs256Header, with(sealed, "aks", sealed["aks"].(string)[:20])), ErrTokenAPIKeyInvalid},
		{"sealed moved from another token", sign(hs256Header, with(sealed, "aks", other)), ErrTokenAPIKeyInvalid},
		{"sealed not base64", sign(hs256Header, with(sealed, "aks", "!!!!")), ErrTokenAPIKeyInvalid},
	}
}

// nonCanonical changes the last character of a base64url segment so that its unused
// trailing bits are set: lenient decoders read the same bytes, strict ones refuse.
func nonCanonical(t *testing.T, seg string) string {
	t.Helper()
	if len(seg)%4 == 0 {
		t.Fatalf("segment of length %d has no trailing bits", len(seg))
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	out := seg[:len(seg)-1] + string(alphabet[last|1])
	if out == seg {
		out = seg[:len(seg)-1] + string(alphabet[last+1])
	}
	lenient, err := enc.DecodeString(out)
	if err != nil {
		t.Fatalf("lenient decode: %v", err)
	}
	orig, _ := enc.DecodeString(seg)
	if string(lenient) != string(orig) {
		t.Fatalf("non-canonical form decodes to other bytes")
	}
	return out
}

func flipLast(s string) string {
	b := []byte(s)
	if b[len(b)-2] == 'A' {
		b[len(b)-2] = 'B'
	} else {
		b[len(b)-2] = 'A'
	}
	return string(b)
}

func TestVerifyNotBefore(t *testing.T) {
	clk := newTestClock()
	ks := mustKeySet(t, "", mustHMACKey(t, "k1", HS256, testSecret))
	iss := mustIssuer(t, ks, WithClock(clk.now))
	old := mustIssue(t, iss, Params{APIKey: testAPIKey})
	clk.t = clk.t.Add(time.Minute)
	fresh := mustIssue(t, iss, Params{APIKey: testAPIKey})

	v := mustVerifier(t, ks, WithClock(clk.now), WithNotBefore(clk.t))
	if _, err := v.Verify(t.Context(), old.Token); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("token issued before not_before: err = %v, want ErrTokenRevoked", err)
	}
	if _, err := v.Verify(t.Context(), fresh.Token); err != nil {
		t.Errorf("token issued at not_before: %v", err)
	}
	// No leeway: one second before is refused even though it is within the leeway.
	v = mustVerifier(t, ks, WithClock(clk.now), WithNotBefore(clk.t.Add(time.Second)))
	if _, err := v.Verify(t.Context(), fresh.Token); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("token issued 1s before not_before: err = %v, want ErrTokenRevoked", err)
	}
}

func TestVerifyExpiryWithClock(t *testing.T) {
	clk := newTestClock()
	ks := mustKeySet(t, "", mustHMACKey(t, "k1", HS256, testSecret))
	iss := mustIssuer(t, ks, WithClock(clk.now), WithTTL(time.Minute))
	v := mustVerifier(t, ks, WithClock(clk.now), WithLeeway(5*time.Second))
	tok := mustIssue(t, iss, Params{APIKey: testAPIKey})

	steps := []struct {
		after   time.Duration
		wantErr error
	}{
		{0, nil},
		{time.Minute + 4*time.Second, nil},
		{time.Minute + 5*time.Second, ErrTokenExpired},
	}
	start := clk.t
	for _, s := range steps {
		clk.t = start.Add(s.after)
		if _, err := v.Verify(t.Context(), tok.Token); !errors.Is(err, s.wantErr) || (err == nil) != (s.wantErr == nil) {
			t.Errorf("after %s: err = %v, want %v", s.after, err, s.wantErr)
		}
	}
}

func TestReasonCoversEverySentinel(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range reasons {
		label, desc := Reason(errors.Join(errors.New("ctx"), r.err))
		if label != r.label || desc != r.err.Error() {
			t.Errorf("Reason(%v) = %q, %q", r.err, label, desc)
		}
		if seen[label] {
			t.Errorf("label %q used twice", label)
		}
		seen[label] = true
	}
	if label, desc := Reason(errors.New("boom")); label != "invalid" || desc != "token is invalid" {
		t.Errorf("Reason(other) = %q, %q", label, desc)
	}
	if got := len(Labels()); got != len(reasons)+1 {
		t.Errorf("Labels() has %d entries, want %d", got, len(reasons)+1)
	}
}

// TestOptionsApplyWhereTheyCompile checks which constructor each option is of a
// type for: one that the other constructor would ignore must not be accepted
// there, so that NewIssuer(ks, iss, aud, WithLeeway(-time.Hour)) does not compile.
func TestOptionsApplyWhereTheyCompile(t *testing.T) {
	tests := []struct {
		name             string
		opt              any
		issuer, verifier bool
	}{
		{"WithClock", WithClock(time.Now), true, true},
		{"WithMaxTTL", WithMaxTTL(time.Hour), true, true},
		{"WithTTL", WithTTL(time.Minute), true, false},
		{"WithMaxSessionAge", WithMaxSessionAge(time.Hour), true, false},
		{"WithPlainAPIKey", WithPlainAPIKey(true), true, false},
		{"WithLeeway", WithLeeway(time.Second), false, true},
		{"WithNotBefore", WithNotBefore(time.Now()), false, true},
		{"WithCache", WithCache(1), false, true},
	}
	for _, tt := range tests {
		_, issuer := tt.opt.(IssuerOption)
		_, verifier := tt.opt.(VerifierOption)
		if issuer != tt.issuer || verifier != tt.verifier {
			t.Errorf("%s: an IssuerOption %v, a VerifierOption %v; want %v, %v", tt.name, issuer, verifier, tt.issuer, tt.verifier)
		}
	}
}

// TestVerifyMaxTTLFromOption gives the verifier the issuer's longer maximum: tokens
// that long are accepted by it, and refused by a verifier left at the default.
func TestVerifyMaxTTLFromOption(t *testing.T) {
	clk := newTestClock()
	ks := mustKeySet(t, "", mustHMACKey(t, "k1", HS256, testSecret))
	long := WithMaxTTL(2 * time.Hour)
	iss := mustIssuer(t, ks, WithClock(clk.now), long, WithTTL(2*time.Hour), WithMaxSessionAge(2*time.Hour))
	tok := mustIssue(t, iss, Params{APIKey: testAPIKey}).Token
	if _, err := mustVerifier(t, ks, WithClock(clk.now), long).Verify(t.Context(), tok); err != nil {
		t.Errorf("verifier with the issuer's max ttl: %v", err)
	}
	if _, err := mustVerifier(t, ks, WithClock(clk.now)).Verify(t.Context(), tok); !errors.Is(err, ErrTokenLifetime) {
		t.Errorf("verifier at the default max ttl: err = %v, want ErrTokenLifetime", err)
	}
}
