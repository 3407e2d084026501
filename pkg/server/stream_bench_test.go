package server_test

import (
	"bufio"
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
	"github.com/jwtgate/jwtgate/pkg/token"
)

// streamBenchEvent is one chat completion chunk as OpenAI streams it, without
// and with the "usage":null member that stream_options.include_usage adds.
const streamBenchEvent = `data: {"id":"chatcmpl-BpLk7Z2yQ0tWn3aXvR8cE1mD4fGhJ","object":"chat.completion.chunk","created":1751620473,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_34a54ae93c","choices":[{"index":0,"delta":{"content":" word"},"logprobs":null,"finish_reason":null}]`

// BenchmarkStreamEvents measures one streamed event through the whole server
// (bearer token from the cache, routing, metrics, logs at warn, the usage
// reader, chat.idle_timeout and chat.max_stream_duration at their defaults)
// over loopback sockets: each op is one event that the upstream writes and
// flushes, jwtgate reads, counts and writes to the client, and the client
// reads, before the upstream writes the next, so every event is a read and a
// write of its own on each side. counting=off is a session without limits
// (the usage is read as the bytes pass), counting=local one with a token
// limit, for which jwtgate asks for the usage and strips the usage:null
// member from every event: `benchstat -col /counting`. cpu-ns/op is the
// process's CPU per event, upstream and client included.
func BenchmarkStreamEvents(b *testing.B) {
	next := make(chan bool) // true: one more event; false: end the stream
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		event := []byte(streamBenchEvent + "}\n\n")
		if bytes.Contains(body, []byte(`"include_usage":true`)) {
			event = []byte(streamBenchEvent + `,"usage":null}` + "\n\n")
		}
		rc := http.NewResponseController(w)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		rc.Flush()
		for <-next {
			w.Write(event)
			rc.Flush()
		}
		io.WriteString(w, "data: [DONE]\n\n")
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
		o.cfg.Chat.MaxBodyBytes = 1 << 20
		o.cfg.Chat.IdleTimeout = time.Minute
		o.cfg.Chat.MaxStreamDuration = 10 * time.Minute
	})
	front := httptest.NewServer(ts.srv)
	b.Cleanup(front.Close)
	body := strings.Replace(benchChatBody, `{"model":"gpt-test",`, `{"model":"gpt-test","stream":true,`, 1)
	want := []byte(streamBenchEvent + "}\n\n")
	for _, tc := range []struct{ name, session string }{
		{"counting=off", ""},
		{"counting=local", countedLimits},
	} {
		tok := ts.createSession(b, tc.session).AccessToken
		b.Run(tc.name, func(b *testing.B) {
			req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, front.URL+"/chat/chat/completions", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
			br := bufio.NewReaderSize(resp.Body, 4<<10)
			got := make([]byte, len(want))
			b.ReportAllocs()
			b.SetBytes(int64(len(want)))
			stop := benchcpu.Start(b).Report
			for b.Loop() {
				next <- true
				if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, want) {
					b.Fatalf("event %q, %v", got, err)
				}
			}
			stop()
			next <- false
			rest, err := io.ReadAll(br)
			if err != nil || string(rest) != "data: [DONE]\n\n" {
				b.Fatalf("end of the stream: %q, %v", rest, err)
			}
		})
	}
}
