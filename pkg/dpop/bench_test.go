package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
	"strconv"
	"testing"
	"time"
)

// BenchmarkProof compares a full proof verification (parse, key and claim checks,
// signature, replay cache) with the bare signature verification of the same
// algorithm over the same signing input. The impl=signature row of each alg is
// the baseline: `benchstat -col /impl` shows what DPoP costs beyond it.
func BenchmarkProof(b *testing.B) {
	for _, kind := range []string{"ES256", "EdDSA", "RS256"} {
		key := keyFor(b, kind)
		clk := newTestClock()
		// A pool of distinct proofs: each is accepted once per replay cache, so
		// the cache is replaced (off the clock) whenever the pool wraps.
		pool := make([]*proofCase, 256)
		proofs := make([]string, len(pool))
		t := &testing.T{}
		for i := range pool {
			pool[i] = newCase(t, key, clk.t)
			proofs[i] = pool[i].spec.proof(b)
		}
		b.Run("alg="+kind+"/impl=signature", func(b *testing.B) {
			p, err := parseProof(proofs[0])
			if err != nil {
				b.Fatal(err)
			}
			verify := bareVerify(b, p)
			b.ReportAllocs()
			for b.Loop() {
				if !verify() {
					b.Fatal("signature does not verify")
				}
			}
		})
		b.Run("alg="+kind+"/impl=dpop", func(b *testing.B) {
			newV := func() *Verifier { return mustVerifier(b, WithClock(clk.now)) }
			v, i := newV(), 0
			b.ReportAllocs()
			for b.Loop() {
				if i == len(proofs) {
					b.StopTimer()
					v, i = newV(), 0
					b.StartTimer()
				}
				if _, err := v.Verify(proofs[i], pool[i].req); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// bareVerify returns the least a verifier must do for p's signature: hash the
// signing input and check the signature with the standard library.
func bareVerify(b *testing.B, p parsedProof) func() bool {
	switch k := p.key.key.(type) {
	case *ecdsa.PublicKey:
		r := new(big.Int).SetBytes(p.sig[:32])
		s := new(big.Int).SetBytes(p.sig[32:])
		return func() bool {
			h := sha256.Sum256([]byte(p.signingInput))
			return ecdsa.Verify(k, h[:], r, s)
		}
	case ed25519.PublicKey:
		return func() bool { return ed25519.Verify(k, []byte(p.signingInput), p.sig) }
	case *rsa.PublicKey:
		return func() bool {
			h := sha256.Sum256([]byte(p.signingInput))
			return rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], p.sig) == nil
		}
	}
	b.Fatalf("no bare verification for %T", p.key.key)
	return nil
}

// BenchmarkProofParts measures what a proof costs besides its signature, each part
// alone: decoding and checking header, key and claims (parse), the claim checks
// against the request with htu normalisation (claims), the RFC 7638 thumbprint,
// the ath digest, recording in the replay cache and checking a nonce.
func BenchmarkProofParts(b *testing.B) {
	clk := newTestClock()
	t := &testing.T{}
	c := newCase(t, newECKey(b), clk.t)
	ns := mustNonceSource(b, testNonceSecret, time.Minute)
	c.spec.claims["nonce"] = ns.Nonce(clk.t)
	proof := c.spec.proof(b)
	v := mustVerifier(b, WithClock(clk.now), WithNonces(ns))
	p, err := parseProof(proof)
	if err != nil {
		b.Fatal(err)
	}
	jwk := c.spec.jwk()
	x, y := jwk["x"].(string), jwk["y"].(string)

	b.Run("part=parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseProof(proof); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("part=claims", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.checkClaims(&p.claims, c.req, clk.t); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("part=thumbprint", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = thumbprintEC(x, y)
		}
	})
	b.Run("part=ath", func(b *testing.B) {
		ath := p.claims.ATH
		b.ReportAllocs()
		for b.Loop() {
			want := sha256.Sum256([]byte(testAccessToken))
			var got [sha256.Size]byte
			if !decodeFixed(got[:], ath) || got != want {
				b.Fatal("ath does not match")
			}
		}
	})
	b.Run("part=replay", func(b *testing.B) {
		cache := mustReplayCache(b, DefaultReplayCacheSize)
		now := clk.t
		var buf []byte
		n := 0
		b.ReportAllocs()
		for b.Loop() {
			// A microsecond per proof, each remembered for 50ms: about 50,000
			// entries once warm, with one expiring for each one added.
			now = now.Add(time.Microsecond)
			buf = strconv.AppendInt(buf[:0], int64(n), 10)
			n++
			if err := cache.record(p.key.jkt, string(buf), now.Add(50*time.Millisecond), now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("part=nonce", func(b *testing.B) {
		nonce := p.claims.Nonce
		b.ReportAllocs()
		for b.Loop() {
			if !ns.Valid(nonce, clk.t) {
				b.Fatal("nonce refused")
			}
		}
	})
}
