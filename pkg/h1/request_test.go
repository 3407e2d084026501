package h1

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDifferentialRefused checks that what net/http's Transport refuses before
// writing, h1 refuses too, and that no byte reaches the server.
func TestDifferentialRefused(t *testing.T) {
	tests := []struct {
		name  string
		setup func(r *http.Request)
	}{
		{"CR LF in a header value", func(r *http.Request) { r.Header.Set("X-A", "a\r\nX-Injected: 1") }},
		{"LF in a header value", func(r *http.Request) { r.Header["X-A"] = []string{"a\nb"} }},
		{"NUL in a header value", func(r *http.Request) { r.Header["X-A"] = []string{"a\x00b"} }},
		{"CR in a header value", func(r *http.Request) { r.Header["X-A"] = []string{"a\rb"} }},
		{"space in a header name", func(r *http.Request) { r.Header["X A"] = []string{"b"} }},
		{"colon in a header name", func(r *http.Request) { r.Header["X:A"] = []string{"b"} }},
		{"empty header name", func(r *http.Request) { r.Header[""] = []string{"b"} }},
		{"CR LF in a header name", func(r *http.Request) { r.Header["X\r\nA"] = []string{"b"} }},
		{"invalid trailer name", func(r *http.Request) { r.Trailer = http.Header{"X A": {"b"}} }},
		{"invalid trailer value", func(r *http.Request) { r.Trailer = http.Header{"X-A": {"a\r\nb"}} }},
		{"invalid method", func(r *http.Request) { r.Method = "GET /x HTTP/1.1\r\n" }},
		{"method with a space", func(r *http.Request) { r.Method = "G T" }},
		{"no host", func(r *http.Request) { r.URL.Host = "" }},
		{"control character in the query", func(r *http.Request) { r.URL.RawQuery = "a=\nb" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string][2]bool{}
			for name, rt := range transports(t) {
				s := newRawServer(t, send(okResponse))
				req, _ := http.NewRequest(http.MethodGet, s.url()+"/x", nil)
				tt.setup(req)
				resp, err := rt.RoundTrip(req)
				if err == nil {
					_ = resp.Body.Close()
				}
				// A request that was refused with nothing written leaves
				// the server with nothing read.
				got[name] = [2]bool{err != nil, s.bytes.Load() > 0}
				if err != nil && strings.Contains(err.Error(), "Injected") {
					t.Errorf("%s: the error quotes the value: %v", name, err)
				}
			}
			if d := cmp.Diff(got["net-http"], got["h1"]); d != "" {
				t.Errorf("net/http (-) and h1 (+) differ:\n%s", d)
			}
			if !got["h1"][0] || got["h1"][1] {
				t.Errorf("h1: refused, bytes written = %v, want true, false", got["h1"])
			}
		})
	}
}

// TestDifferentialSanitized covers what Request.Write sends in a safe form
// rather than refusing: an invalid Host header is sent empty, a path is
// escaped. The server must see the same request from both transports, and
// never an injected header.
func TestDifferentialSanitized(t *testing.T) {
	tests := []struct {
		name  string
		setup func(r *http.Request)
	}{
		{"Host with CR LF", func(r *http.Request) { r.Host = "a\r\nX-Injected: 1" }},
		{"Host with a space", func(r *http.Request) { r.Host = "a b" }},
		{"Host with a slash", func(r *http.Request) { r.Host = "a/b" }},
		{"Host with NUL", func(r *http.Request) { r.Host = "a\x00b" }},
		{"control characters in the path", func(r *http.Request) { r.URL.Path = "/a\r\nX-Injected: 1"; r.URL.RawPath = "" }},
	}
	type seen struct {
		Host, URI string
		Injected  bool
		Err       bool
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]seen{}
			for name, rt := range transports(t) {
				var sn seen
				var s *rawServer
				s = newRawServer(t, func(c net.Conn, r *http.Request) {
					host := strings.ReplaceAll(r.Host, s.ln.Addr().String(), "server")
					sn.Host, sn.URI, sn.Injected = host, r.RequestURI, r.Header.Get("X-Injected") != ""
					_, _ = io.WriteString(c, okResponse)
				})
				req, _ := http.NewRequest(http.MethodGet, s.url()+"/x", nil)
				tt.setup(req)
				resp, err := rt.RoundTrip(req)
				if err == nil {
					_, _ = io.ReadAll(resp.Body)
					_ = resp.Body.Close()
				}
				sn.Err = err != nil
				got[name] = sn
			}
			compare(t, got)
			if got["h1"].Injected {
				t.Errorf("h1: a header was injected: %+v", got["h1"])
			}
		})
	}
}

// TestRefusedKeepsConnection: a request Request.Write refuses on a reused
// connection leaves it usable.
func TestRefusedKeepsConnection(t *testing.T) {
	s := newRawServer(t, send(okResponse))
	tr := New(Config{})
	defer tr.CloseIdleConnections()
	get(t, tr, s.url()+"/a")
	req, _ := http.NewRequest(http.MethodGet, s.url()+"/b", nil)
	req.URL.RawQuery = "a=\r\nb"
	if _, err := tr.RoundTrip(req); err == nil {
		t.Fatal("a control character in the URL was sent")
	}
	get(t, tr, s.url()+"/c")
	if n := s.accepts.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// get sends a GET with tr and checks its answer is okResponse's.
func get(t *testing.T, tr http.RoundTripper, url string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || string(b) != "ok" {
		t.Fatalf("body %q, %v", b, err)
	}
}

// TestDifferentialTimeouts covers the response header timeout and a context
// ended during the header wait and during the body, on both transports: the
// errors must match the same standard errors (pkg/server answers 504 for a
// deadline and tells its own causes apart).
func TestDifferentialTimeouts(t *testing.T) {
	type result struct {
		Class   string
		Timeout bool
	}
	run := func(t *testing.T, do func(t *testing.T, rt http.RoundTripper, s *rawServer, started chan struct{}) error) map[string]result {
		got := map[string]result{}
		for name, rt := range transportsWith(t, 50*time.Millisecond) {
			started := make(chan struct{}, 1)
			s := newRawServer(t, func(c net.Conn, _ *http.Request) {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
				started <- struct{}{}
			})
			if name == "" {
				continue
			}
			err := do(t, rt, s, started)
			got[name] = result{errClass(err), isTimeout(err)}
		}
		return got
	}
	t.Run("response header timeout", func(t *testing.T) {
		got := map[string]result{}
		for name, rt := range transportsWith(t, 50*time.Millisecond) {
			s := newRawServer(t, func(net.Conn, *http.Request) {}) // never answers
			req, _ := http.NewRequest(http.MethodGet, s.url()+"/x", nil)
			_, err := rt.RoundTrip(req)
			got[name] = result{errClass(err), isTimeout(err)}
		}
		compare(t, got)
		if r := got["h1"]; r.Class != "DeadlineExceeded,timeout" || !r.Timeout {
			t.Errorf("h1: %+v", r)
		}
	})
	t.Run("cancel in the header wait", func(t *testing.T) {
		got := map[string]result{}
		for name, rt := range transports(t) {
			read := make(chan struct{}, 1)
			s := newRawServer(t, func(net.Conn, *http.Request) { read <- struct{}{} })
			ctx, cancel := context.WithCancelCause(context.Background())
			go func() {
				<-read
				cancel(errTestCause)
			}()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url()+"/x", nil)
			_, err := rt.RoundTrip(req)
			got[name] = result{errClass(err), isTimeout(err)}
		}
		compare(t, got)
		if got["h1"].Class != "cause" {
			t.Errorf("h1: %+v, want the context's cause", got["h1"])
		}
	})
	t.Run("deadline in the header wait", func(t *testing.T) {
		got := map[string]result{}
		for name, rt := range transports(t) {
			s := newRawServer(t, func(net.Conn, *http.Request) {})
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url()+"/x", nil)
			_, err := rt.RoundTrip(req)
			cancel()
			got[name] = result{errClass(err), isTimeout(err)}
		}
		compare(t, got)
		if got["h1"].Class != "DeadlineExceeded,timeout" {
			t.Errorf("h1: %+v", got["h1"])
		}
	})
	t.Run("cancel in the body", func(t *testing.T) {
		got := run(t, func(t *testing.T, rt http.RoundTripper, s *rawServer, started chan struct{}) error {
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url()+"/x", nil)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			buf := make([]byte, 3)
			if _, err := io.ReadFull(resp.Body, buf); err != nil {
				t.Fatal(err)
			}
			go func() {
				<-started
				cancel(errTestCause)
			}()
			_, err = resp.Body.Read(buf)
			return err
		})
		compare(t, got)
		if got["h1"].Class != "cause" {
			t.Errorf("h1: %+v, want the context's cause", got["h1"])
		}
	})
}

// transportsWith is transports with a response header timeout.
func transportsWith(t *testing.T, headerTimeout time.Duration) map[string]http.RoundTripper {
	nt := &http.Transport{DisableCompression: true, ResponseHeaderTimeout: headerTimeout}
	ht := New(Config{ResponseHeaderTimeout: headerTimeout, Fallback: failingFallback{t}})
	t.Cleanup(nt.CloseIdleConnections)
	t.Cleanup(ht.CloseIdleConnections)
	return map[string]http.RoundTripper{"net-http": nt, "h1": ht}
}

func isTimeout(err error) bool {
	var to interface{ Timeout() bool }
	return errors.As(err, &to) && to.Timeout()
}

func compare[T any](t *testing.T, got map[string]T) {
	t.Helper()
	if d := cmp.Diff(got["net-http"], got["h1"]); d != "" {
		t.Errorf("net/http (-) and h1 (+) differ:\n%s", d)
	}
}

// TestDifferential1xxTrace: 1xx responses reach Got1xxResponse, and once a
// trace reads them their bytes no longer count against the header limit.
func TestDifferential1xxTrace(t *testing.T) {
	many := strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", testHeaderLimit/30)
	type result struct {
		Codes  int
		Err    bool
		Status int
	}
	got := map[string]result{}
	for name, rt := range transports(t) {
		s := newRawServer(t, send(many+okResponse))
		var r result
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			if code == 103 && h.Get("Link") == "</a>" {
				r.Codes++
			}
			return nil
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, s.url(), nil)
		resp, err := rt.RoundTrip(req)
		r.Err = err != nil
		if err == nil {
			r.Status = resp.StatusCode
			_ = resp.Body.Close()
		}
		got[name] = r
	}
	compare(t, got)
	if r := got["h1"]; r.Err || r.Status != 200 || r.Codes != testHeaderLimit/30 {
		t.Errorf("h1: %+v", r)
	}
}
