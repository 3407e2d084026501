package server_test

import (
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/token"
)

// BenchmarkSessionPath serves the requests that make loadtest's observability
// ratios (scripts/loadtest.sh, "paired rounds") through the whole server in
// process, as BenchmarkRequestPath does: /healthz, GET /sessions/current with
// the verified-token cache on and off, and POST /sessions with the API key in
// the JSON body; logs at warn and no rate limit, as in the load runs. Read with
// `benchstat -col /route`, /healthz the baseline:
//
//	go test -run '^$' -bench SessionPath -benchmem ./pkg/server
func BenchmarkSessionPath(b *testing.B) {
	for _, cache := range []bool{true, false} {
		ts := newTestServer(b, func(o *testOptions) {
			o.logLevel = slog.LevelWarn
			o.logWriter = io.Discard
			if cache {
				o.verifierOpts = append(o.verifierOpts, token.WithCache(token.DefaultCacheSize))
			}
		})
		tok := ts.createSession(b, "").AccessToken
		suffix := "/cache=on"
		if !cache {
			suffix = "/cache=off"
		}
		cases := []pathCase{
			{"healthz", http.MethodGet, "/healthz", nil, "", http.StatusOK},
			{"sessions-current", http.MethodGet, "/sessions/current", http.Header{"Authorization": {"Bearer " + tok}}, "", http.StatusOK},
		}
		if cache {
			cases = append(cases, pathCase{"sessions-create", http.MethodPost, "/sessions", http.Header{"Content-Type": {"application/json"}},
				`{"api_key":"` + testAPIKey + `"}`, http.StatusCreated})
		}
		for _, tc := range cases {
			b.Run("route="+tc.route+suffix, func(b *testing.B) { tc.run(b, ts) })
		}
	}
}
