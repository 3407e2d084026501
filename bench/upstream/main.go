// Command upstream is the stand-in chat backend of jwtgate's proxy load runs: it
// answers GET /healthz and POST /v1/chat/completions with a small chat-completions JSON, or with
// "stream": true a server-sent-event stream of -events events (the last one
// "[DONE]") flushed one by one, -event-delay apart. The query parameters events
// (1 to 1000) and event_delay (a Go duration, at most 1s) override the flags for
// one request, so one upstream serves short and long streams alike. It listens
// on a loopback address only and prints "listening <addr>" on stderr.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	events := flag.Int("events", 5, "events in a streamed response, [DONE] included (1 to 100)")
	delay := flag.Duration("event-delay", 10*time.Millisecond, "pause between streamed events (at most 1s)")
	work := flag.Duration("response-delay", 0, "time spent before a non-streamed answer, as a real backend thinks (at most 1s)")
	flag.Parse()
	if *work < 0 || *work > time.Second {
		return fmt.Errorf("-response-delay %v: want 0 to 1s", *work)
	}
	if *events < 1 || *events > 100 {
		return fmt.Errorf("-events %d: want 1 to 100", *events)
	}
	if *delay < 0 || *delay > time.Second {
		return fmt.Errorf("-event-delay %v: want 0 to 1s", *delay)
	}

	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", *addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr %q: only loopback addresses are allowed", *addr)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	fmt.Fprintln(os.Stderr, "listening", ln.Addr().String())

	hs := &http.Server{
		Handler:           newHandler(*events, *delay, *work),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}

// completion is the non-streamed answer, written once at start-up.
var completion = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,` +
	`"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"pong"},` +
	`"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)

// chunk is one streamed event before [DONE].
var chunk = []byte(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,` +
	`"model":"bench","choices":[{"index":0,"delta":{"content":"pong "},"finish_reason":null}]}` + "\n\n")

func newHandler(events int, delay, work time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Stream bool `json:"stream"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		if !req.Stream {
			if work > 0 {
				select {
				case <-r.Context().Done():
					return
				case <-time.After(work):
				}
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(completion)
			return
		}
		events, delay, err := streamShape(r, events, delay)
		if err != nil {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		rc := http.NewResponseController(w)
		for i := range events {
			if i > 0 {
				select {
				case <-r.Context().Done():
					return
				case <-time.After(delay):
				}
			}
			ev := chunk
			if i == events-1 {
				ev = []byte("data: [DONE]\n\n")
			}
			if _, err := w.Write(ev); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	})
	return mux
}

// streamShape returns the number of events and the pause between them for r:
// the query's events and event_delay when present, else the flags' values.
func streamShape(r *http.Request, events int, delay time.Duration) (int, time.Duration, error) {
	q := r.URL.Query()
	if v := q.Get("events"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return 0, 0, fmt.Errorf("events %q: want 1 to 1000", v)
		}
		events = n
	}
	if v := q.Get("event_delay"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > time.Second {
			return 0, 0, fmt.Errorf("event_delay %q: want 0 to 1s", v)
		}
		delay = d
	}
	return events, delay, nil
}
