package ginauth_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/dpop"
	"github.com/jwtgate/jwtgate/pkg/dpop/dpoptest"
	"github.com/jwtgate/jwtgate/pkg/ginauth"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// swappableProofs is a proof verifier the benchmark replaces, off the clock, when
// its pool of proofs wraps: each proof is accepted once per replay cache.
type swappableProofs struct{ v atomic.Pointer[dpop.Verifier] }

func (s *swappableProofs) Verify(p string, r dpop.Request) (dpop.Result, error) {
	return s.v.Load().Verify(p, r)
}
func (s *swappableProofs) Nonce() string { return s.v.Load().Nonce() }

// BenchmarkDPoP serves one cheap route behind the middleware with the verified-
// token cache on (as jwtgate runs) two ways: an unbound token as Bearer (the
// baseline, scheme=bearer) and a DPoP-bound token with a fresh proof per request,
// by an ES256, an EdDSA and an RS256 (2048-bit) key. `benchstat -col /scheme`
// shows what a proof costs on top of a bearer request; it is mostly the
// proof's signature check, see pkg/dpop's BenchmarkProof and BenchmarkProofParts.
func BenchmarkDPoP(b *testing.B) {
	tt := newTestTokens(b)
	cached, err := token.NewVerifier(tt.keys, testIssuer, testAudience, token.WithCache(token.DefaultCacheSize))
	if err != nil {
		b.Fatal(err)
	}
	issue := func(jkt string) string {
		is, err := tt.issuer.Issue(b.Context(), token.Params{APIKey: testAPIKey, JKT: jkt})
		if err != nil {
			b.Fatal(err)
		}
		return is.Token
	}
	newProofs := func() *swappableProofs {
		s := &swappableProofs{}
		v, err := dpop.NewVerifier()
		if err != nil {
			b.Fatal(err)
		}
		s.v.Store(v)
		return s
	}

	b.Run("scheme=bearer", func(b *testing.B) {
		engine := benchEngine(ginauth.New(cached, ginauth.WithDPoP(newProofs())))
		benchRoute(b, engine, issue(""))
	})
	rsa, err := dpoptest.NewRS256(2048)
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range []struct {
		name string
		key  func() (*dpoptest.Key, error)
	}{
		{"dpop-es256", dpoptest.NewES256},
		{"dpop-eddsa", dpoptest.NewEd25519},
		{"dpop-rs256", func() (*dpoptest.Key, error) { return rsa, nil }},
	} {
		b.Run("scheme="+k.name, func(b *testing.B) {
			key, err := k.key()
			if err != nil {
				b.Fatal(err)
			}
			tok := issue(key.JKT())
			proofs := make([]string, 512)
			for i := range proofs {
				proofs[i] = mustProof(b, key, dpoptest.Claims{HTM: http.MethodGet, HTU: "http://example.com/r", AccessToken: tok})
			}
			pv := newProofs()
			engine := benchEngine(ginauth.New(cached, ginauth.WithDPoP(pv)))
			req := httptest.NewRequest(http.MethodGet, "/r", nil)
			req.Header.Set("Authorization", "DPoP "+tok)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				if i == len(proofs) {
					b.StopTimer()
					fresh, err := dpop.NewVerifier()
					if err != nil {
						b.Fatal(err)
					}
					pv.v.Store(fresh)
					i = 0
					b.StartTimer()
				}
				req.Header.Set("Dpop", proofs[i])
				i++
				rec := httptest.NewRecorder()
				engine.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
