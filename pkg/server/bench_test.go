package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkEndpoints drives the whole handler (middleware, routing, logging to a
// buffer) in process: the unprotected /healthz is the baseline the others are
// read against (`benchstat -col /route`).
func BenchmarkEndpoints(b *testing.B) {
	ts := newTestServer(b)
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
