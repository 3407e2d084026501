package token

import (
	"errors"
	"strings"
	"testing"
)

// FuzzVerify feeds arbitrary strings to the verifier: it must never panic, must
// refuse with exactly one of the refusal sentinels, and must accept only a token that
// carries the signing key's kid and a valid signature, spelled canonically, and that
// golang-jwt configured strictly accepts too (see strictJWT). Seeds beyond these are
// in testdata/fuzz/FuzzVerify; go test runs them all.
func FuzzVerify(f *testing.F) {
	clk := newTestClock()
	ks := mustKeySet(f, "k1", mustHMACKey(f, "k1", HS256, testSecret))
	iss := mustIssuer(f, ks, WithClock(clk.now))
	v := mustVerifier(f, ks, WithClock(clk.now))
	good := mustIssue(f, iss, Params{APIKey: testAPIKey}).Token
	f.Add(good)
	f.Add(good[:len(good)-2])
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add(hmacSign(HS256, testSecret, `{"alg":"none","kid":"k1"}`, `{}`))
	f.Add(hmacSign(HS256, testSecret, hs256Header, `{"exp":1e999}`))
	f.Add(hmacSign(HS256, testSecret, hs256Header, `{"aud":[[[[]]]]}`))
	f.Add("eyJhbGciOiJIUzI1NiJ9..")
	f.Add("")
	strict := newStrictJWT(clk.now, map[string]strictKey{"k1": {HS256, testSecret}})
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(t.Context(), raw)
		if err == nil {
			if c.APIKey == "" || c.KeyID != "k1" {
				t.Fatalf("accepted a token without proper claims: %v", c)
			}
			// Never more lenient than golang-jwt configured strictly.
			if err := strict.check(raw); err != nil {
				t.Fatalf("accepted a token strict golang-jwt refuses: %v", err)
			}
			// One token, one spelling: every accepted segment is canonical
			// base64url, so no variant of a token passes as another string.
			for _, seg := range strings.Split(raw, ".") {
				b, err := enc.Strict().DecodeString(seg)
				if err != nil || enc.EncodeToString(b) != seg {
					t.Fatalf("accepted a token with a non-canonical segment %q", seg)
				}
			}
			return
		}
		n := 0
		for _, r := range reasons {
			if errors.Is(err, r.err) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("error %q wraps %d refusal sentinels, want 1", err, n)
		}
	})
}
