package h1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// closingServer answers the first request of its first connection, then reads
// the second request there and closes without an answer, as a server does that
// times an idle connection out just as a request arrives. Every request on a
// later connection is answered. It records the bodies it read.
type closingServer struct {
	ln     net.Listener
	conns  atomic.Int32
	mu     sync.Mutex
	bodies []string
}

func newClosingServer(t *testing.T) *closingServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &closingServer{ln: ln}
	var wg sync.WaitGroup
	var open sync.Map
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			first := s.conns.Add(1) == 1
			open.Store(c, true)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { _ = c.Close() }()
				br := bufio.NewReader(c)
				for n := 1; ; n++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					b, _ := io.ReadAll(req.Body)
					s.mu.Lock()
					s.bodies = append(s.bodies, string(b))
					s.mu.Unlock()
					if first && n == 2 {
						return
					}
					if _, err := io.WriteString(c, okResponse); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		open.Range(func(k, _ any) bool {
			_ = k.(net.Conn).Close()
			return true
		})
		wg.Wait()
	})
	return s
}

func TestDifferentialRetry(t *testing.T) {
	tests := []struct {
		name      string
		req       func(url string) *http.Request
		wantRetry bool
	}{
		{"GET is retried", func(url string) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, url, nil)
			return r
		}, true},
		{"POST without GetBody is not retried", func(url string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, url, io.NopCloser(strings.NewReader("body")))
			r.ContentLength = 4
			return r
		}, false},
		{"POST with GetBody is not retried", func(url string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, url, strings.NewReader("body"))
			return r
		}, false},
		{"POST with GetBody and Idempotency-Key is retried", func(url string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, url, strings.NewReader("body"))
			r.Header.Set("Idempotency-Key", "k1")
			return r
		}, true},
		{"POST with Idempotency-Key and no GetBody is not retried", func(url string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, url, io.NopCloser(strings.NewReader("body")))
			r.ContentLength = 4
			r.Header.Set("Idempotency-Key", "k1")
			return r
		}, false},
		{"PUT with GetBody is not retried", func(url string) *http.Request {
			r, _ := http.NewRequest(http.MethodPut, url, strings.NewReader("body"))
			return r
		}, false},
		{"OPTIONS is retried", func(url string) *http.Request {
			r, _ := http.NewRequest(http.MethodOptions, url, nil)
			return r
		}, true},
	}
	type result struct {
		Err    bool
		Class  string
		Conns  int32
		Bodies []string
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]result{}
			for name, rt := range transports(t) {
				s := newClosingServer(t)
				url := "http://" + s.ln.Addr().String() + "/x"
				get(t, rt, url)
				resp, err := rt.RoundTrip(tt.req(url))
				if err == nil {
					_, _ = io.ReadAll(resp.Body)
					_ = resp.Body.Close()
				}
				s.mu.Lock()
				got[name] = result{Err: err != nil, Class: errClass(err), Conns: s.conns.Load(), Bodies: s.bodies}
				s.mu.Unlock()
			}
			compare(t, got)
			if r := got["h1"]; r.Err == tt.wantRetry {
				t.Errorf("h1: %+v, want retried = %v", r, tt.wantRetry)
			}
		})
	}
}

// TestStaleIdleConnection: a connection the server closed while it was idle is
// seen by the peek and never used, so even a request that could not be
// retried goes through on a new one.
func TestStaleIdleConnection(t *testing.T) {
	closed := make(chan struct{}, 1)
	s := newRawServer(t, func(c net.Conn, _ *http.Request) {
		_, _ = io.WriteString(c, okResponse)
		_ = c.Close()
		closed <- struct{}{}
	})
	tr := New(Config{Fallback: failingFallback{t}})
	defer tr.CloseIdleConnections()
	get(t, tr, s.url()+"/a")
	<-closed
	req, _ := http.NewRequest(http.MethodPost, s.url()+"/b", io.NopCloser(strings.NewReader("body")))
	req.ContentLength = 4
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("a POST after the server closed the idle connection: %v", err)
	}
	_ = resp.Body.Close()
	if n := s.accepts.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestShouldRetry is the rule table of net/http's shouldRetryRequest.
func TestShouldRetry(t *testing.T) {
	withBody := func(method string, getBody bool, key string) *http.Request {
		r, _ := http.NewRequest(method, "http://x/", strings.NewReader("b"))
		if !getBody {
			r.GetBody = nil
		}
		if key != "" {
			r.Header.Set(key, "1")
		}
		return r
	}
	noBody := func(method string) *http.Request {
		r, _ := http.NewRequest(method, "http://x/", nil)
		return r
	}
	eof := readFromServerError{io.EOF}
	nothing := nothingWrittenError{errors.New("write: broken pipe")}
	other := errors.New("unexpected EOF reading the body")
	tests := []struct {
		name   string
		reused bool
		req    *http.Request
		err    error
		want   bool
	}{
		{"new connection", false, noBody("GET"), eof, false},
		{"new connection, nothing written", false, noBody("POST"), nothing, false},
		{"nothing written, no body", true, noBody("POST"), nothing, true},
		{"nothing written, GetBody", true, withBody("POST", true, ""), nothing, true},
		{"nothing written, body without GetBody", true, withBody("POST", false, ""), nothing, false},
		{"GET, closed before the answer", true, noBody("GET"), eof, true},
		{"HEAD, closed before the answer", true, noBody("HEAD"), eof, true},
		{"GET, another error", true, noBody("GET"), other, false},
		{"POST, closed before the answer", true, withBody("POST", true, ""), eof, false},
		{"POST with Idempotency-Key", true, withBody("POST", true, "Idempotency-Key"), eof, true},
		{"POST with X-Idempotency-Key", true, withBody("POST", true, "X-Idempotency-Key"), eof, true},
		{"POST with a key, no GetBody", true, withBody("POST", false, "Idempotency-Key"), eof, false},
		{"DELETE", true, noBody("DELETE"), eof, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shouldRetry(&conn{reused: tt.reused}, tt.req, tt.err); got != tt.want {
				t.Errorf("shouldRetry = %v, want %v", got, tt.want)
			}
		})
	}
}
