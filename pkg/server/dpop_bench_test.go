package server_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/dpop/dpoptest"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// BenchmarkDPoPChat drives the whole handler (CORS off, observation, the
// middleware, the echo backend's non-streamed chat completion; logs at warn) with
// an unbound token as Bearer (the baseline, scheme=bearer) and with a bound token
// and a fresh ES256 proof per request (scheme=dpop): `benchstat -col /scheme`.
// Proofs are made in batches off the clock, each used once.
func BenchmarkDPoPChat(b *testing.B) {
	ts := newTestServer(b, func(o *testOptions) {
		o.logLevel = slog.LevelWarn
		o.verifierOpts = append(o.verifierOpts, token.WithCache(token.DefaultCacheSize))
		o.cfg.DPoP.ReplayCacheSize = 1 << 20
	})
	key := dpoptest.MustES256(b)
	unbound := ts.createSession(b, "").AccessToken
	bound := ts.createSession(b, `{"dpop_jkt":"`+key.JKT()+`"}`).AccessToken
	const body = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello there"}]}`
	serve := func(b *testing.B, h http.Header) {
		req := httptest.NewRequest(http.MethodPost, "/chat/chat/completions", strings.NewReader(body))
		req.Header = h
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		ts.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	b.Run("scheme=bearer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serve(b, http.Header{"Authorization": {"Bearer " + unbound}})
		}
	})
	b.Run("scheme=dpop", func(b *testing.B) {
		var batch []string
		b.ReportAllocs()
		for b.Loop() {
			if len(batch) == 0 {
				b.StopTimer()
				for range 256 {
					batch = append(batch, key.MustProof(b, dpoptest.Claims{HTM: http.MethodPost, HTU: base + "/chat/chat/completions", AccessToken: bound}))
				}
				b.StartTimer()
			}
			serve(b, http.Header{"Authorization": {"DPoP " + bound}, "Dpop": {batch[0]}})
			batch = batch[1:]
		}
	})
}
