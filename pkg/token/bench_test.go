package token

import (
	"fmt"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// baselineClaims is what a typical golang-jwt user would decode a jwtgate token into.
type baselineClaims struct {
	jwt.RegisteredClaims
	Sid string `json:"sid"`
	Sst int64  `json:"sst"`
	Akf string `json:"akf"`
	Ak  string `json:"ak"`
	Aks string `json:"aks"`
}

// BenchmarkVerify compares jwtgate's verification with raw golang-jwt v5 parsing of
// the same sealed token, with the checks a careful golang-jwt user would ask for
// (pinned method, issuer, audience, required exp, iat). The impl=golang-jwt row is
// the baseline the others are read against: `benchstat -col /impl`.
func BenchmarkVerify(b *testing.B) {
	ks := mustKeySet(b, "k1", mustHMACKey(b, "k1", HS256, testSecret))
	sealed := mustIssue(b, mustIssuer(b, ks), Params{APIKey: testAPIKey, Subject: "user-1234"}).Token
	plain := mustIssue(b, mustIssuer(b, ks, WithPlainAPIKey(true)), Params{APIKey: testAPIKey, Subject: "user-1234"}).Token
	v := mustVerifier(b, ks)
	cached := mustVerifier(b, ks, WithCache(DefaultCacheSize))

	b.Run("impl=golang-jwt", func(b *testing.B) {
		p := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(testIssuer),
			jwt.WithAudience(testAudience), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
		keyFunc := func(*jwt.Token) (any, error) { return testSecret, nil }
		b.ReportAllocs()
		for b.Loop() {
			var c baselineClaims
			if _, err := p.ParseWithClaims(sealed, &c, keyFunc); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, tc := range []struct {
		name string
		v    *Verifier
		raw  string
	}{
		{"impl=jwtgate-sealed", v, sealed},
		{"impl=jwtgate-plain", v, plain},
		{"impl=jwtgate-cache-hit", cached, sealed},
	} {
		b.Run(tc.name, func(b *testing.B) {
			if _, err := tc.v.Verify(b.Context(), tc.raw); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.v.Verify(b.Context(), tc.raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIssueSealed signs a new sealed token.
func BenchmarkIssueSealed(b *testing.B) {
	ks := mustKeySet(b, "k1", mustHMACKey(b, "k1", HS256, testSecret))
	iss := mustIssuer(b, ks)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Issue(b.Context(), Params{APIKey: testAPIKey}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyGrowth shows how verification cost grows with token size and
// claim count: extra claims (ignored by jwtgate but still decoded past) and a
// longer API key, in plain mode so only size and count vary.
func BenchmarkVerifyGrowth(b *testing.B) {
	clk := newTestClock()
	ks := mustKeySet(b, "k1", mustHMACKey(b, "k1", HS256, testSecret))
	v := mustVerifier(b, ks, WithClock(clk.now))
	for _, tc := range []struct {
		name   string
		extra  int
		keyLen int
	}{
		{"claims=11/key=32", 0, 32},
		{"claims=11/key=512", 0, 512},
		{"claims=19/key=32", 8, 32},
		{"claims=43/key=32", 32, 32},
		{"claims=75/key=32", 64, 32},
	} {
		key := strings.Repeat("k", tc.keyLen)
		c := with(claimsAt(clk.t), "ak", key, "akf", testFingerprint(key))
		for i := range tc.extra {
			c[fmt.Sprintf("x-claim-%02d", i)] = "value-of-some-extra-claim"
		}
		raw := hmacSign(HS256, testSecret, hs256Header, mustJSON(b, c))
		b.Run(fmt.Sprintf("%s/bytes=%d", tc.name, len(raw)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(b.Context(), raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
