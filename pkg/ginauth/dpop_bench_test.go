package ginauth_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/benchcpu"
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
// proof's signature check, whose floor (the standard library's check alone) each
// scheme=signature-<alg> row measures: dpop-<alg> minus bearer minus
// signature-<alg> is what DPoP costs a route beyond the unavoidable. Every row
// reports cpu-ns/op, the process's CPU time per request, which other load on the
// machine moves far less than the wall time. See pkg/dpop's BenchmarkCheckProof.
func BenchmarkDPoP(b *testing.B) {
	cached, issue := benchTokens(b)
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
		req := httptest.NewRequest(http.MethodGet, "/r", nil)
		req.Header.Set("Authorization", "Bearer "+issue(""))
		b.ReportAllocs()
		cpu := benchcpu.Start(b)
		for b.Loop() {
			rec := httptest.NewRecorder()
			engine.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
		cpu.Report()
	})
	for _, k := range benchKeys(b) {
		b.Run("scheme=dpop-"+strings.ToLower(k.alg), func(b *testing.B) {
			key, err := k.key()
			if err != nil {
				b.Fatal(err)
			}
			tok := issue(key.JKT())
			proofs := make([]string, 512)
			for i := range proofs {
				proofs[i] = key.MustProof(b, dpoptest.Claims{HTM: http.MethodGet, HTU: "http://example.com/r", AccessToken: tok})
			}
			pv := newProofs()
			engine := benchEngine(ginauth.New(cached, ginauth.WithDPoP(pv)))
			req := httptest.NewRequest(http.MethodGet, "/r", nil)
			req.Header.Set("Authorization", "DPoP "+tok)
			i := 0
			b.ReportAllocs()
			cpu := benchcpu.Start(b)
			for b.Loop() {
				if i == len(proofs) {
					cpu.Stop()
					fresh, err := dpop.NewVerifier()
					if err != nil {
						b.Fatal(err)
					}
					pv.v.Store(fresh)
					i = 0
					cpu.Resume()
				}
				req.Header.Set("Dpop", proofs[i])
				i++
				rec := httptest.NewRecorder()
				engine.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			cpu.Report()
		})
		// The floor of the row above: the bare signature check of one of its
		// proofs, all that a proof must cost.
		b.Run("scheme=signature-"+strings.ToLower(k.alg), func(b *testing.B) {
			key, err := k.key()
			if err != nil {
				b.Fatal(err)
			}
			check, err := key.SignatureCheck(key.MustProof(b, dpoptest.Claims{HTM: http.MethodGet, HTU: "http://example.com/r", AccessToken: issue(key.JKT())}))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu := benchcpu.Start(b)
			for b.Loop() {
				if !check() {
					b.Fatal("signature does not verify")
				}
			}
			cpu.Report()
		})
	}
}

// BenchmarkDPoPPaired measures what DPoP costs a route beyond the proof's
// signature, precisely on a busy machine: each iteration serves the cheap route
// once with an unbound token as Bearer and once with a bound token and a fresh
// proof, and checks that proof's signature bare (dpoptest.Key.SignatureCheck),
// in turns, timing each. It reports the medians of the three and of dpop minus
// bearer minus signature per iteration (extra-ns/op): load that changes over the
// run hits the three alike, and a call another process interrupted falls out of
// the median.
func BenchmarkDPoPPaired(b *testing.B) {
	cached, issue := benchTokens(b)
	for _, k := range benchKeys(b) {
		b.Run("alg="+k.alg, func(b *testing.B) {
			key, err := k.key()
			if err != nil {
				b.Fatal(err)
			}
			tok := issue(key.JKT())
			proofs := make([]string, 512)
			floors := make([]func() bool, len(proofs))
			for i := range proofs {
				proofs[i] = key.MustProof(b, dpoptest.Claims{HTM: http.MethodGet, HTU: "http://example.com/r", AccessToken: tok})
				if floors[i], err = key.SignatureCheck(proofs[i]); err != nil {
					b.Fatal(err)
				}
			}
			pv := &swappableProofs{}
			fresh := func() {
				v, err := dpop.NewVerifier()
				if err != nil {
					b.Fatal(err)
				}
				pv.v.Store(v)
			}
			fresh()
			engine := benchEngine(ginauth.New(cached, ginauth.WithDPoP(pv)))
			bearerReq := httptest.NewRequest(http.MethodGet, "/r", nil)
			bearerReq.Header.Set("Authorization", "Bearer "+issue(""))
			dpopReq := httptest.NewRequest(http.MethodGet, "/r", nil)
			dpopReq.Header.Set("Authorization", "DPoP "+tok)
			serve := func(req *http.Request) time.Duration {
				rec := httptest.NewRecorder()
				t0 := time.Now()
				engine.ServeHTTP(rec, req)
				d := time.Since(t0)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				return d
			}
			var bearer, dp, sig, extra []time.Duration
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				if i == len(proofs) {
					b.StopTimer()
					fresh()
					i = 0
					b.StartTimer()
				}
				dpopReq.Header.Set("Dpop", proofs[i])
				var db, dd, ds time.Duration
				steps := [3]func(){
					func() { db = serve(bearerReq) },
					func() { dd = serve(dpopReq) },
					func() {
						t0 := time.Now()
						ok := floors[i]()
						ds = time.Since(t0)
						if !ok {
							b.Fatal("signature does not verify")
						}
					},
				}
				// Each goes first in turn, so that none always finds the
				// caches warmed by another.
				for j := range steps {
					steps[(i+j)%3]()
				}
				bearer, dp, sig = append(bearer, db), append(dp, dd), append(sig, ds)
				extra = append(extra, dd-db-ds)
				i++
			}
			b.ReportMetric(medianNanos(bearer), "bearer-ns/op")
			b.ReportMetric(medianNanos(dp), "dpop-ns/op")
			b.ReportMetric(medianNanos(sig), "signature-ns/op")
			b.ReportMetric(medianNanos(extra), "extra-ns/op")
		})
	}
}

// benchTokens returns a verifier with the verified-token cache on (as jwtgate
// runs) and a function issuing a token bound to jkt ("" for an unbound one).
func benchTokens(b *testing.B) (*token.Verifier, func(jkt string) string) {
	tt := newTestTokens(b)
	cached, err := token.NewVerifier(tt.keys, testIssuer, testAudience, token.WithCache(token.DefaultCacheSize))
	if err != nil {
		b.Fatal(err)
	}
	return cached, func(jkt string) string {
		is, err := tt.issuer.Issue(b.Context(), token.Params{APIKey: testAPIKey, JKT: jkt})
		if err != nil {
			b.Fatal(err)
		}
		return is.Token
	}
}

// benchKey makes a client key of one proof algorithm for a sub-benchmark.
type benchKey struct {
	alg string
	key func() (*dpoptest.Key, error)
}

// benchKeys are the algorithms the DPoP benchmarks measure: ES256, EdDSA, and
// RS256 with one 2048-bit key made up front, since making one is slow.
func benchKeys(b *testing.B) []benchKey {
	rsa, err := dpoptest.NewRS256(2048)
	if err != nil {
		b.Fatal(err)
	}
	return []benchKey{
		{"ES256", dpoptest.NewES256},
		{"EdDSA", dpoptest.NewEd25519},
		{"RS256", func() (*dpoptest.Key, error) { return rsa, nil }},
	}
}

// medianNanos returns the median of d in nanoseconds (d is reordered).
func medianNanos(d []time.Duration) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return float64(d[len(d)/2].Nanoseconds())
}
