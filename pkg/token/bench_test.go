package token

import (
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

func benchTokens(b *testing.B, plain bool) (*Verifier, string) {
	b.Helper()
	ks := mustKeySet(b, "k1", mustHMACKey(b, "k1", HS256, testSecret))
	tok := mustIssue(b, mustIssuer(b, ks, WithPlainAPIKey(plain)), Params{APIKey: testAPIKey, Subject: "user-1234"})
	return mustVerifier(b, ks), tok.Token
}

// BenchmarkBaselineGolangJWT is raw golang-jwt v5 parsing of the same sealed token
// with the checks a careful user would ask for; the Verify benchmarks are read as
// ratios against it.
func BenchmarkBaselineGolangJWT(b *testing.B) {
	_, raw := benchTokens(b, false)
	p := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(testIssuer),
		jwt.WithAudience(testAudience), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	keyFunc := func(*jwt.Token) (any, error) { return testSecret, nil }
	b.ReportAllocs()
	for b.Loop() {
		var c baselineClaims
		if _, err := p.ParseWithClaims(raw, &c, keyFunc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifySealed is the full jwtgate check of a sealed token, opening the key.
func BenchmarkVerifySealed(b *testing.B) {
	v, raw := benchTokens(b, false)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(b.Context(), raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyPlain is the full jwtgate check of a plain-mode token.
func BenchmarkVerifyPlain(b *testing.B) {
	v, raw := benchTokens(b, true)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(b.Context(), raw); err != nil {
			b.Fatal(err)
		}
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

// BenchmarkVerifyCacheHit is a repeat verification of a cached sealed token.
func BenchmarkVerifyCacheHit(b *testing.B) {
	ks := mustKeySet(b, "k1", mustHMACKey(b, "k1", HS256, testSecret))
	raw := mustIssue(b, mustIssuer(b, ks), Params{APIKey: testAPIKey, Subject: "user-1234"}).Token
	v := mustVerifier(b, ks, WithCache(DefaultCacheSize))
	if _, err := v.Verify(b.Context(), raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(b.Context(), raw); err != nil {
			b.Fatal(err)
		}
	}
}
