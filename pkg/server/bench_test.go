package server_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/token"
)

// BenchmarkEndpoints drives the whole handler (middleware, routing, metrics; logs
// at warn, as in the load runs) in process: the unprotected /healthz is the
// baseline the others are read against (`benchstat -col /route`).
func BenchmarkEndpoints(b *testing.B) {
	ts := newTestServer(b, func(o *testOptions) {
		o.logLevel = slog.LevelWarn
		o.verifierOpts = append(o.verifierOpts, token.WithCache(token.DefaultCacheSize))
	})
	tok := ts.createSession(b, "").AccessToken
	for _, tc := range []struct {
		name   string
		method string
		path   string
		header http.Header
		want   int
	}{
		{"route=healthz", http.MethodGet, "/healthz", nil, http.StatusOK},
		{"route=sessions-current", http.MethodGet, "/sessions/current", http.Header{"Authorization": {"Bearer " + tok}}, http.StatusOK},
		{"route=sessions-create", http.MethodPost, "/sessions", http.Header{"X-Api-Key": {testAPIKey}}, http.StatusCreated},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(tc.method, tc.path, nil)
				req.Header = tc.header.Clone()
				rec := httptest.NewRecorder()
				ts.srv.ServeHTTP(rec, req)
				if rec.Code != tc.want {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
