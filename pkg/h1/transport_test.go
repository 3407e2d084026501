package h1

import (
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// recordingFallback counts the requests given to it and fails them.
type recordingFallback struct{ n int }

var errFallback = errors.New("fallback")

func (f *recordingFallback) RoundTrip(r *http.Request) (*http.Response, error) {
	f.n++
	if r.Body != nil {
		_ = r.Body.Close()
	}
	return nil, errFallback
}

func TestFallback(t *testing.T) {
	s := newRawServer(t, send(okResponse))
	tests := []struct {
		name     string
		req      func() *http.Request
		fallback bool
	}{
		{"plain GET", func() *http.Request { r, _ := http.NewRequest("GET", s.url(), nil); return r }, false},
		{"small POST", func() *http.Request {
			r, _ := http.NewRequest("POST", s.url(), strings.NewReader("{}"))
			return r
		}, false},
		{"https", func() *http.Request { r, _ := http.NewRequest("GET", "https://127.0.0.1:1/", nil); return r }, true},
		{"WebSocket upgrade", func() *http.Request {
			r, _ := http.NewRequest("GET", s.url(), nil)
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", "websocket")
			return r
		}, true},
		{"Upgrade header alone", func() *http.Request {
			r, _ := http.NewRequest("GET", s.url(), nil)
			r.Header.Set("Upgrade", "h2c")
			return r
		}, true},
		{"Expect 100-continue", func() *http.Request {
			r, _ := http.NewRequest("POST", s.url(), strings.NewReader("{}"))
			r.Header.Set("Expect", "100-continue")
			return r
		}, true},
		{"body of unknown length", func() *http.Request {
			r, _ := http.NewRequest("POST", s.url(), io.NopCloser(strings.NewReader("{}")))
			r.ContentLength = -1
			return r
		}, true},
		{"body over the inline limit", func() *http.Request {
			r, _ := http.NewRequest("POST", s.url(), strings.NewReader(strings.Repeat("a", DefaultMaxInlineBody+1)))
			return r
		}, true},
		{"explicit Transfer-Encoding", func() *http.Request {
			r, _ := http.NewRequest("POST", s.url(), strings.NewReader("{}"))
			r.TransferEncoding = []string{"chunked"}
			return r
		}, true},
		{"nil URL", func() *http.Request { return &http.Request{Method: "GET", Header: http.Header{}} }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &recordingFallback{}
			tr := New(Config{Fallback: f})
			defer tr.CloseIdleConnections()
			resp, err := tr.RoundTrip(tt.req())
			if err == nil {
				_ = resp.Body.Close()
			}
			if got := f.n == 1; got != tt.fallback {
				t.Errorf("fallback used = %v, want %v (err %v)", got, tt.fallback, err)
			}
			if tt.fallback != errors.Is(err, errFallback) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

// TestBodyCloseBeforeEOF: a body closed before its end closes the connection,
// and one read to its end returns it to the pool.
func TestBodyCloseBeforeEOF(t *testing.T) {
	s := newRawServer(t, send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"))
	tr := New(Config{Fallback: failingFallback{t}})
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", s.url(), nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := resp.Body.Read(buf); !errors.Is(err, ErrBodyReadAfterClose) {
		t.Errorf("read after close: %v", err)
	}
	get(t, tr, s.url())
	get(t, tr, s.url())
	if n := s.accepts.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (the cut one, then one reused)", n)
	}
}

// TestIdleLimit: no more than MaxIdleConnsPerHost connections stay idle.
func TestIdleLimit(t *testing.T) {
	s := newRawServer(t, send(okResponse))
	tr := New(Config{MaxIdleConnsPerHost: 2, Fallback: failingFallback{t}})
	defer tr.CloseIdleConnections()
	var bodies []io.ReadCloser
	for range 4 {
		req, _ := http.NewRequest("GET", s.url(), nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, resp.Body)
	}
	for _, b := range bodies {
		_, _ = io.ReadAll(b)
		_ = b.Close()
	}
	tr.mu.Lock()
	n := len(tr.idle[s.ln.Addr().String()])
	tr.mu.Unlock()
	if n != 2 {
		t.Errorf("%d idle connections, want 2", n)
	}
}

// TestIdleTimeout: an idle connection is closed once IdleConnTimeout passed.
func TestIdleTimeout(t *testing.T) {
	s := newRawServer(t, send(okResponse))
	tr := New(Config{IdleConnTimeout: time.Millisecond, Fallback: failingFallback{t}})
	defer tr.CloseIdleConnections()
	get(t, tr, s.url())
	<-s.closed // the server saw the client close it
	get(t, tr, s.url())
	if n := s.accepts.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestNoGoroutinePerStream: an open response body costs no goroutine in the
// transport (net/http's keeps two per connection).
func TestNoGoroutinePerStream(t *testing.T) {
	const n = 20
	stream := newStreamServer(t)
	tr := New(Config{Fallback: failingFallback{t}})
	defer tr.CloseIdleConnections()
	before := runtime.NumGoroutine()
	var bodies []io.ReadCloser
	for range n {
		req, _ := http.NewRequest("GET", stream.url, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, resp.Body)
	}
	// The server runs one goroutine per connection; the client none.
	if d := runtime.NumGoroutine() - before; d >= 2*n {
		t.Errorf("%d more goroutines for %d open streams, want fewer than %d", d, n, 2*n)
	}
	for _, b := range bodies {
		_ = b.Close()
	}
}

// streamServer answers every request with the headers of an endless chunked
// body and keeps the connection open.
type streamServer struct{ url string }

func newStreamServer(t *testing.T) *streamServer {
	t.Helper()
	return &streamServer{url: newStreamServerB(t)}
}

// newStreamServerB starts a streamServer for a test or benchmark and returns
// its URL.
func newStreamServerB(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				buf := make([]byte, 4096)
				if _, err := c.Read(buf); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n")
				<-done
			}()
		}
	}()
	t.Cleanup(func() {
		close(done)
		_ = ln.Close()
	})
	return "http://" + ln.Addr().String()
}
