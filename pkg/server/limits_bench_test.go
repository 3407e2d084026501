package server_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/token"
)

// benchChatBody is a 1 KiB chat-completions request naming its model and no
// output cap, so that a session with limits checks the model and adds the cap.
var benchChatBody = func() string {
	const head, tail = `{"model":"gpt-test","messages":[{"role":"user","content":"`, `"}],"temperature":0.2}`
	return head + strings.Repeat("lorem ipsum ", (1024-len(head)-len(tail))/12) + tail
}()

// BenchmarkChatLimits drives the whole handler (bearer token from the cache,
// routing, metrics, logs at warn) on the proxied chat route to a loopback
// upstream, for a session without limits and for one whose limits make jwtgate
// read the body, check its model and splice in the cap: `benchstat -col /limits`.
func BenchmarkChatLimits(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"chatcmpl-bench","object":"chat.completion","choices":[]}`)
	}))
	b.Cleanup(up.Close)
	u, err := url.Parse(up.URL + "/v1")
	if err != nil {
		b.Fatal(err)
	}
	ts := newTestServer(b, func(o *testOptions) {
		o.logLevel = slog.LevelWarn
		o.verifierOpts = append(o.verifierOpts, token.WithCache(token.DefaultCacheSize))
		o.cfg.Chat.UpstreamURL = u
	})
	for _, tc := range []struct {
		name, session string
	}{
		{"limits=off", ""},
		{"limits=on", `{"limits":{"models":["gpt-test","claude-*"],"paths":["/chat/completions"],"max_output_tokens":1024}}`},
	} {
		tok := ts.createSession(b, tc.session).AccessToken
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(benchChatBody)))
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/chat/chat/completions", strings.NewReader(benchChatBody))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				ts.srv.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
