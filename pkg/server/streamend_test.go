package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/pkg/server"
)

// endGuard bounds a wait that only a broken server would exhaust; no test here
// asserts how long anything takes.
const endGuard = 10 * time.Second

// proxied is a jwtgate server in front of a test upstream, on a loopback port,
// with a session to call it with.
type proxied struct {
	ts    *testServer
	front *httptest.Server
	token string
}

// newProxied starts upstream and jwtgate in front of it; edit adjusts chat.*.
// released, when not nil, is closed as the test ends, before the servers close,
// so that an upstream handler waiting on it lets the test finish.
func newProxied(t *testing.T, upstream http.HandlerFunc, released chan struct{}, edit func(*server.ChatConfig)) *proxied {
	t.Helper()
	up := httptest.NewServer(upstream)
	t.Cleanup(up.Close)
	u, err := url.Parse(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, func(o *testOptions) {
		o.cfg.Chat = server.ChatConfig{
			UpstreamURL:           u,
			AuthHeader:            "Authorization",
			AuthScheme:            "Bearer",
			ConnectTimeout:        endGuard,
			ResponseHeaderTimeout: endGuard,
			IdleTimeout:           time.Minute,
			MaxStreamDuration:     10 * time.Minute,
			MaxBodyBytes:          1 << 20,
		}
		if edit != nil {
			edit(&o.cfg.Chat)
		}
	})
	front := httptest.NewServer(ts.srv)
	t.Cleanup(front.Close)
	if released != nil {
		t.Cleanup(func() { close(released) })
	}
	return &proxied{ts: ts, front: front, token: ts.createSession(t, "").AccessToken}
}

func (p *proxied) request(t *testing.T, ctx context.Context, path string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.front.URL+path, strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/json")
	return req
}

// chatLine waits for the access line of the one /chat request and returns it.
func (p *proxied) chatLine(t *testing.T) map[string]any {
	t.Helper()
	deadline := time.Now().Add(endGuard)
	for {
		for _, rec := range p.ts.logs.lines(t) {
			if rec["msg"] == "request" && rec["route"] == "/chat/*path" {
				return rec
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access line for the chat request; log:\n%s", p.ts.logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wantEnding checks the access line and the metrics of the one /chat request:
// its status, its ending ("" for none), and the upstream error kind counted for
// it ("" for none).
func (p *proxied) wantEnding(t *testing.T, status int, ending, upstreamKind string) {
	t.Helper()
	line := p.chatLine(t)
	if got, _ := line["status"].(float64); got != float64(status) {
		t.Errorf("access line status = %v, want %d: %v", line["status"], status, line)
	}
	if got, _ := line["ending"].(string); got != ending {
		t.Errorf("access line ending = %q, want %q: %v", got, ending, line)
	}
	if _, ok := line["latency"]; !ok {
		t.Errorf("access line has no latency: %v", line)
	}
	families := scrape(t, p.ts)
	if v, ok := value(families, "jwtgate_http_requests_total", map[string]string{"route": "/chat/*path", "code": strconv.Itoa(status)}); !ok || v != 1 {
		t.Errorf("jwtgate_http_requests_total{code=%d} = %v (present %v), want 1", status, v, ok)
	}
	if v, ok := value(families, "jwtgate_http_request_duration_seconds", map[string]string{"route": "/chat/*path"}); !ok || v != 1 {
		t.Errorf("chat request duration observed %v times (present %v), want 1", v, ok)
	}
	for _, e := range []string{"client_gone", "idle_timeout", "client_idle_timeout", "max_stream_duration", "upstream_error", "aborted"} {
		want := 0.0
		if e == ending {
			want = 1
		}
		if v, ok := value(families, "jwtgate_http_requests_interrupted_total", map[string]string{"ending": e}); !ok || v != want {
			t.Errorf("jwtgate_http_requests_interrupted_total{ending=%q} = %v (present %v), want %v", e, v, ok, want)
		}
	}
	for _, kind := range []string{"unreachable", "timeout", "canceled", "too_large", "broken"} {
		want := 0.0
		if kind == upstreamKind {
			want = 1
		}
		if v, ok := value(families, "jwtgate_upstream_errors_total", map[string]string{"kind": kind}); !ok || v != want {
			t.Errorf("jwtgate_upstream_errors_total{kind=%q} = %v (present %v), want %v", kind, v, ok, want)
		}
	}
}

// sendEvent writes one server-sent event and flushes it.
func sendEvent(w http.ResponseWriter, data string) error {
	if _, err := io.WriteString(w, "data: "+data+"\n\n"); err != nil {
		return err
	}
	return http.NewResponseController(w).Flush()
}

// firstEvent reads the first event of resp and fails the test unless it is want.
func firstEvent(t *testing.T, r *bufio.Reader, want string) {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil || line != "data: "+want+"\n" {
		t.Fatalf("first event line = %q, %v; want data: %s", line, err, want)
	}
}

func TestEndingComplete(t *testing.T) {
	p := newProxied(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}, nil, nil)
	ctx, cancel := context.WithTimeout(t.Context(), endGuard)
	defer cancel()
	resp, err := http.DefaultClient.Do(p.request(t, ctx, "/chat/completions"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	p.wantEnding(t, http.StatusOK, "", "")
}

// TestEndingClientGoneBeforeAnswer: a client that gives up before the upstream
// answered was counted and logged as 200 with 0 bytes.
func TestEndingClientGoneBeforeAnswer(t *testing.T) {
	arrived, released := make(chan struct{}), make(chan struct{})
	p := newProxied(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		select {
		case <-r.Context().Done():
		case <-released:
		}
	}, released, nil)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		select {
		case <-arrived:
		case <-time.After(endGuard):
		}
		cancel()
	}()
	if resp, err := http.DefaultClient.Do(p.request(t, ctx, "/chat/completions")); err == nil {
		resp.Body.Close()
		t.Fatalf("request answered %d, want it canceled", resp.StatusCode)
	}
	p.wantEnding(t, 499, "client_gone", "canceled")
}

// TestEndingClientGoneMidStream is a user pressing "stop": the stream had no
// access line and no count.
func TestEndingClientGoneMidStream(t *testing.T) {
	released := make(chan struct{})
	p := newProxied(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		sendEvent(w, "1")
		select {
		case <-r.Context().Done():
		case <-released:
		}
	}, released, nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	resp, err := http.DefaultClient.Do(p.request(t, ctx, "/chat/completions"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	firstEvent(t, bufio.NewReader(resp.Body), "1")
	cancel() // stop
	p.wantEnding(t, 499, "client_gone", "")
}

// TestEndingCutByJWTgate covers the two limits on a silent upstream.
func TestEndingCutByJWTgate(t *testing.T) {
	tests := []struct {
		name      string
		idle, max time.Duration
		ending    string
	}{
		{"idle timeout", 50 * time.Millisecond, 10 * time.Minute, "idle_timeout"},
		{"max stream duration", 0, 200 * time.Millisecond, "max_stream_duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			released := make(chan struct{})
			p := newProxied(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				sendEvent(w, "1")
				select {
				case <-r.Context().Done():
				case <-released:
				}
			}, released, func(c *server.ChatConfig) { c.IdleTimeout, c.MaxStreamDuration = tt.idle, tt.max })
			ctx, cancel := context.WithTimeout(t.Context(), endGuard)
			defer cancel()
			resp, err := http.DefaultClient.Do(p.request(t, ctx, "/chat/completions"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			events := bufio.NewReader(resp.Body)
			firstEvent(t, events, "1")
			if _, err := io.ReadAll(events); err == nil {
				t.Error("a cut stream read as complete")
			}
			p.wantEnding(t, http.StatusOK, tt.ending, "timeout")
		})
	}
}

// TestEndingUpstreamError: the upstream dies after its headers and a first event.
func TestEndingUpstreamError(t *testing.T) {
	p := newProxied(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		sendEvent(w, "1")
		panic(http.ErrAbortHandler) // net/http drops the connection mid-body
	}, nil, nil)
	ctx, cancel := context.WithTimeout(t.Context(), endGuard)
	defer cancel()
	resp, err := http.DefaultClient.Do(p.request(t, ctx, "/chat/completions"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewReader(resp.Body)
	firstEvent(t, events, "1")
	if _, err := io.ReadAll(events); err == nil {
		t.Error("a broken stream read as complete")
	}
	p.wantEnding(t, http.StatusOK, "upstream_error", "broken")
	if !strings.Contains(p.ts.logs.String(), "chat upstream response broke off") {
		t.Errorf("the log does not report the upstream failure:\n%s", p.ts.logs)
	}
}

// stalledClient sends a chat request on a raw connection with a tiny receive
// buffer and never reads the answer. It returns the connection, closed when
// the test ends.
func stalledClient(t *testing.T, p *proxied) net.Conn {
	t.Helper()
	addr := strings.TrimPrefix(p.front.URL, "http://")
	var d net.Dialer
	conn, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.(*net.TCPConn).SetReadBuffer(1024); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /chat/completions HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", addr, p.token)
	return conn
}

// floodingUpstream streams as fast as it can until the proxy lets go.
func floodingUpstream(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	chunk := "data: " + strings.Repeat("x", 32<<10) + "\n\n"
	for r.Context().Err() == nil {
		if _, err := io.WriteString(w, chunk); err != nil {
			return
		}
	}
}

// TestEndingClientStopsReading: a client that stops reading held its handler,
// socket and send buffer until it closed. The stream ends after
// chat.idle_timeout without progress on the client's side, and at
// chat.max_stream_duration when no idle limit is set.
func TestEndingClientStopsReading(t *testing.T) {
	tests := []struct {
		name      string
		idle, max time.Duration
		ending    string
	}{
		{"idle timeout", 100 * time.Millisecond, 10 * time.Minute, "client_idle_timeout"},
		{"max stream duration", 0, 300 * time.Millisecond, "max_stream_duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProxied(t, floodingUpstream, nil, func(c *server.ChatConfig) { c.IdleTimeout, c.MaxStreamDuration = tt.idle, tt.max })
			stalledClient(t, p)
			line := p.chatLine(t) // the handler has ended
			if got, _ := line["ending"].(string); got != tt.ending {
				t.Errorf("access line ending = %q, want %q: %v", got, tt.ending, line)
			}
			if got, _ := line["status"].(float64); got != http.StatusOK {
				t.Errorf("access line status = %v, want 200", line["status"])
			}
			if bytes, _ := line["bytes"].(float64); bytes == 0 {
				t.Errorf("access line bytes = %v, want what was written before the stall", line["bytes"])
			}
			families := scrape(t, p.ts)
			if v, _ := value(families, "jwtgate_http_requests_interrupted_total", map[string]string{"ending": tt.ending}); v != 1 {
				t.Errorf("jwtgate_http_requests_interrupted_total{ending=%q} = %v, want 1", tt.ending, v)
			}
			if tt.ending == "client_idle_timeout" {
				// The client stalled, not the upstream.
				if v, _ := value(families, "jwtgate_upstream_errors_total", map[string]string{"kind": "timeout"}); v != 0 {
					t.Errorf("jwtgate_upstream_errors_total{kind=timeout} = %v, want 0", v)
				}
			}
		})
	}
}
