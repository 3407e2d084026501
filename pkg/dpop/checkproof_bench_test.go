package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/benchcpu"
)

// BenchmarkCheckProof measures what checking a proof costs beyond its signature.
// For each algorithm, in one run:
//
//   - step=signature is the floor: what no verifier can avoid, the standard
//     library's verification of the proof's signature over its signing input
//     (SHA-256 of it for ES256 and RS256) with the public key parsed beforehand
//     and, for ES256, the signature already in the ASN.1 form crypto/ecdsa takes;
//   - step=proof is [Verifier.Verify] end to end (split, decode, header, key and
//     claim checks, htu against the request, ath, binding, signature, replay
//     cache) on proofs that one client's key makes, as a session sends them: the
//     header is the same on every request, only the claims change;
//   - step=paired runs the two above in turn on each proof of the pool, timing
//     each call, and reports the medians of both and of their difference per
//     proof (extra-ns/op): a machine's changing load hits both sides of each pair
//     alike, and a call interrupted by another process falls out of the median;
//   - step=proof-uncached is the same with a distinct (ignored) kid in every
//     proof's header, so that nothing learnt from one header serves the next: what
//     a client's first proof costs.
//
// proof minus signature is what DPoP adds to the unavoidable: `benchstat -col
// /step`. Each row reports cpu-ns/op too, the process's CPU time per proof,
// which other load on the machine moves far less than the wall time.
func BenchmarkCheckProof(b *testing.B) {
	for _, kind := range []string{"ES256", "EdDSA", "RS256"} {
		key := keyFor(b, kind)
		clk := newTestClock()
		const n = 256
		t := &testing.T{}
		cases := make([]*proofCase, n)
		proofs := make([]string, n)
		uncached := make([]string, n)
		for i := range cases {
			cases[i] = newCase(t, key, clk.t)
			proofs[i] = cases[i].spec.proof(b)
			s := cases[i].spec.clone()
			s.claims["jti"] = s.claims["jti"].(string) + "-u"
			s.header["kid"] = "k" + strconv.Itoa(i)
			uncached[i] = s.proof(b)
		}
		b.Run("alg="+kind+"/step=signature", func(b *testing.B) {
			verify := floorVerify(b, key.signer.Public(), proofs[0])
			b.ReportAllocs()
			cpu := benchcpu.Start(b)
			for b.Loop() {
				if !verify() {
					b.Fatal("signature does not verify")
				}
			}
			cpu.Report()
		})
		run := func(proofs []string) func(b *testing.B) {
			return func(b *testing.B) {
				// Each proof is accepted once per replay cache: the verifier is
				// replaced, off the clock, whenever the pool wraps.
				newV := func() *Verifier { return mustVerifier(b, WithClock(clk.now)) }
				v, i := newV(), 0
				b.ReportAllocs()
				cpu := benchcpu.Start(b)
				for b.Loop() {
					if i == len(proofs) {
						cpu.Stop()
						v, i = newV(), 0
						cpu.Resume()
					}
					if _, err := v.Verify(proofs[i], cases[i].req); err != nil {
						b.Fatal(err)
					}
					i++
				}
				cpu.Report()
			}
		}
		b.Run("alg="+kind+"/step=proof", run(proofs))
		b.Run("alg="+kind+"/step=proof-uncached", run(uncached))
		b.Run("alg="+kind+"/step=paired", func(b *testing.B) {
			floors := make([]func() bool, n)
			for i, p := range proofs {
				floors[i] = floorVerify(b, key.signer.Public(), p)
			}
			newV := func() *Verifier { return mustVerifier(b, WithClock(clk.now)) }
			v, i := newV(), 0
			var sig, full, extra []time.Duration
			for b.Loop() {
				if i == n {
					b.StopTimer()
					v, i = newV(), 0
					b.StartTimer()
				}
				floor := func() time.Duration {
					t0 := time.Now()
					if !floors[i]() {
						b.Fatal("signature does not verify")
					}
					return time.Since(t0)
				}
				proof := func() time.Duration {
					t0 := time.Now()
					if _, err := v.Verify(proofs[i], cases[i].req); err != nil {
						b.Fatal(err)
					}
					return time.Since(t0)
				}
				// Either first in turn, so that neither always finds the
				// signing input in the cache.
				var ds, dp time.Duration
				if i%2 == 0 {
					ds = floor()
					dp = proof()
				} else {
					dp = proof()
					ds = floor()
				}
				sig, full, extra = append(sig, ds), append(full, dp), append(extra, dp-ds)
				i++
			}
			b.ReportMetric(median(sig), "signature-ns/op")
			b.ReportMetric(median(full), "proof-ns/op")
			b.ReportMetric(median(extra), "extra-ns/op")
		})
	}
}

// median returns the median of d in nanoseconds (d is reordered).
func median(d []time.Duration) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return float64(d[len(d)/2].Nanoseconds())
}

// floorVerify returns the standard library's check of proof's signature with pub,
// everything else (splitting, decoding the signature, ASN.1 for ECDSA) done
// beforehand; it uses nothing of this package.
func floorVerify(b *testing.B, pub crypto.PublicKey, proof string) func() bool {
	dot := strings.LastIndexByte(proof, '.')
	si := []byte(proof[:dot])
	sig, err := enc.DecodeString(proof[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
		if err != nil {
			b.Fatal(err)
		}
		return func() bool {
			h := sha256.Sum256(si)
			return ecdsa.VerifyASN1(k, h[:], der)
		}
	case ed25519.PublicKey:
		return func() bool { return ed25519.Verify(k, si, sig) }
	case *rsa.PublicKey:
		return func() bool {
			h := sha256.Sum256(si)
			return rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], sig) == nil
		}
	}
	b.Fatalf("no verification for %T", pub)
	return nil
}
