package server_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/benchcpu"
	"github.com/jwtgate/jwtgate/pkg/server"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// BenchmarkRequestPath serves requests through the whole server (CORS off,
// request id, metrics, access log, bearer check with the cache on, proxy) in
// process, one request value reused and a writer that throws the answer away,
// so that what is measured is jwtgate's own work per request rather than
// httptest's parsing and recording:
//
//	go test -run '^$' -bench RequestPath -benchmem ./pkg/server
//
// log=info writes the access line (JSON, to io.Discard) as the binary's default
// log level does; log=warn is the load runs' setting. route=chat forwards to a
// loopback upstream over a real connection (the chat defaults of the binary:
// idle timeout, stream limit), so it includes the outbound HTTP exchange.
func BenchmarkRequestPath(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, benchCompletion)
	}))
	b.Cleanup(up.Close)
	upURL, err := url.Parse(up.URL + "/v1")
	if err != nil {
		b.Fatal(err)
	}
	for _, level := range []slog.Level{slog.LevelWarn, slog.LevelInfo} {
		ts := newTestServer(b, func(o *testOptions) {
			o.logLevel = level
			o.logWriter = io.Discard
			o.verifierOpts = append(o.verifierOpts, token.WithCache(token.DefaultCacheSize))
			o.cfg.Chat = server.ChatConfig{
				UpstreamURL:           upURL,
				AuthHeader:            "Authorization",
				AuthScheme:            "Bearer",
				ConnectTimeout:        10 * time.Second,
				ResponseHeaderTimeout: 60 * time.Second,
				IdleTimeout:           60 * time.Second,
				MaxStreamDuration:     10 * time.Minute,
				MaxBodyBytes:          1 << 20,
				AllowedMethods:        []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"},
			}
		})
		tok := ts.createSession(b, "").AccessToken
		for _, tc := range []pathCase{
			{"healthz", http.MethodGet, "/healthz", nil, "", http.StatusOK},
			{"sessions-current", http.MethodGet, "/sessions/current", http.Header{"Authorization": {"Bearer " + tok}}, "", http.StatusOK},
			{"chat", http.MethodPost, "/chat/chat/completions",
				http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}}, benchChatRequest, http.StatusOK},
		} {
			b.Run("route="+tc.route+"/log="+strings.ToLower(level.String()), func(b *testing.B) { tc.run(b, ts) })
		}
	}
}

// pathCase is one request of the whole-server benchmarks, answered with want.
type pathCase struct {
	route  string
	method string
	path   string
	header http.Header
	body   string
	want   int
}

// run serves tc's request through ts's server b.N times, one request value
// reused and a writer that throws the answer away.
func (tc pathCase) run(b *testing.B, ts *testServer) {
	req := httptest.NewRequest(tc.method, tc.path, nil)
	req.Header = tc.header
	body := strings.NewReader(tc.body)
	w := &discardWriter{h: make(http.Header)}
	b.ReportAllocs()
	defer benchcpu.Start(b).Report()
	for b.Loop() {
		if tc.body != "" {
			body.Reset(tc.body)
			req.Body = io.NopCloser(body)
			req.ContentLength = int64(len(tc.body))
		}
		w.reset()
		ts.srv.ServeHTTP(w, req)
		if w.code != tc.want {
			b.Fatalf("status %d: %s", w.code, w.body.Bytes())
		}
	}
}

// benchChatRequest is a small chat request.
const benchChatRequest = `{"model":"bench","messages":[{"role":"user","content":"ping"}]}`

// benchCompletion is a small chat completion, as a backend answers one.
const benchCompletion = `{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,` +
	`"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"pong"},` +
	`"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`

// discardWriter is an http.ResponseWriter (and Flusher) that keeps the status
// and the first bytes of the body, for the benchmarks' checks.
type discardWriter struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (w *discardWriter) reset() {
	clear(w.h)
	w.code = 0
	w.body.Reset()
}

func (w *discardWriter) Header() http.Header { return w.h }

func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *discardWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if w.body.Len() < 512 {
		w.body.Write(p[:min(len(p), 512-w.body.Len())])
	}
	return len(p), nil
}

func (w *discardWriter) Flush() {}
