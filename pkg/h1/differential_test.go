package h1

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testHeaderLimit is both transports' MaxResponseHeaderBytes in these tests.
const testHeaderLimit = 8 << 10

// transports returns the two transports compared: net/http's and this
// package's, with the same settings.
func transports(t *testing.T) map[string]http.RoundTripper {
	t.Helper()
	nt := &http.Transport{
		DisableCompression:     true,
		MaxIdleConnsPerHost:    DefaultMaxIdleConnsPerHost,
		MaxResponseHeaderBytes: testHeaderLimit,
		ResponseHeaderTimeout:  0,
	}
	ht := New(Config{MaxResponseHeaderBytes: testHeaderLimit, Fallback: failingFallback{t}})
	t.Cleanup(nt.CloseIdleConnections)
	t.Cleanup(ht.CloseIdleConnections)
	return map[string]http.RoundTripper{"net-http": nt, "h1": ht}
}

// failingFallback fails a test that reaches it: these requests are h1's own.
type failingFallback struct{ t *testing.T }

func (f failingFallback) RoundTrip(*http.Request) (*http.Response, error) {
	f.t.Error("request went to the fallback")
	return nil, errors.New("fallback")
}

// outcome is what a caller sees of an exchange.
type outcome struct {
	Err         bool
	ErrClass    string // which of the errors callers test for it matches
	Status      int
	Header      http.Header
	Body        string
	BodyErr     bool
	BodyErrKind string
	Reused      bool // a second request went over the same connection
	Second      bool // the second request succeeded
}

// errClass names the standard errors err matches, as callers classify them.
func errClass(err error) string {
	var parts []string
	for _, e := range []struct {
		name string
		err  error
	}{
		{"EOF", io.EOF},
		{"UnexpectedEOF", io.ErrUnexpectedEOF},
		{"DeadlineExceeded", context.DeadlineExceeded},
		{"Canceled", context.Canceled},
		{"cause", errTestCause},
	} {
		if errors.Is(err, e.err) {
			parts = append(parts, e.name)
		}
	}
	var to interface{ Timeout() bool }
	if errors.As(err, &to) && to.Timeout() {
		parts = append(parts, "timeout")
	}
	return strings.Join(parts, ",")
}

var errTestCause = errors.New("test cause")

// exchange sends a GET to s's first handler, reads the answer, waits for the
// client to close the connection when closeWait is set, and sends a second
// GET to learn whether the connection was reused.
func exchange(t *testing.T, rt http.RoundTripper, s *rawServer, method string, closeWait bool) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, s.url()+"/first", nil)
	var o outcome
	resp, err := rt.RoundTrip(req)
	if err != nil {
		o.Err, o.ErrClass = true, errClass(err)
	} else {
		o.Status, o.Header = resp.StatusCode, resp.Header
		b, err := io.ReadAll(resp.Body)
		o.Body = string(b)
		if err != nil {
			o.BodyErr, o.BodyErrKind = true, errClass(err)
		}
		_ = resp.Body.Close()
	}
	if closeWait {
		select {
		case <-s.closed:
		case <-ctx.Done():
			t.Fatal("the client did not close the connection")
		}
	}
	before := s.accepts.Load()
	req2, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url()+"/second", nil)
	if resp, err := rt.RoundTrip(req2); err == nil {
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		o.Second = string(b) == "ok"
	}
	o.Reused = s.accepts.Load() == before && before > 0
	return o
}

func TestDifferentialResponses(t *testing.T) {
	bigHeader := "X-Big: " + strings.Repeat("a", 3*testHeaderLimit) + "\r\n"
	tests := []struct {
		name      string
		method    string
		first     func(net.Conn, *http.Request)
		closeWait bool // the client must close the connection after the answer
		want      func(t *testing.T, o outcome)
	}{
		{name: "plain", first: send(okResponse), want: wantReused},
		{name: "content-length and transfer-encoding",
			first: send("HTTP/1.1 200 OK\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")},
		{name: "two content-lengths",
			first: send("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"), want: wantErr},
		{name: "same content-length twice",
			first: send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab")},
		{name: "invalid chunk size",
			first: send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"), want: wantBodyErr},
		{name: "chunk size overflow",
			first: send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nabc\r\n0\r\n\r\n"), want: wantBodyErr},
		{name: "truncated chunk",
			first: sendAndClose("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"), want: wantBodyErr},
		{name: "chunk without CRLF",
			first: send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n"), want: wantBodyErr},
		{name: "bare LF", first: send("HTTP/1.1 200 OK\nContent-Length: 2\n\nok")},
		{name: "obs-fold", first: send("HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok")},
		{name: "space before colon", first: send("HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 2\r\n\r\nok")},
		{name: "oversized headers",
			first: send("HTTP/1.1 200 OK\r\n" + bigHeader + "Content-Length: 2\r\n\r\nok"), want: wantErr},
		{name: "1xx then 200",
			first: send("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" + okResponse), want: wantReused},
		{name: "too many 1xx",
			first: send(strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", testHeaderLimit/30) + okResponse), want: wantErr},
		{name: "101 to a plain request",
			first: sendAndClose("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\nhello")},
		{name: "101 without upgrade headers", first: send("HTTP/1.1 101 Switching Protocols\r\n\r\n")},
		{name: "HTTP/1.0", first: send("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"), want: wantNotReused},
		{name: "HTTP/1.0 keep-alive", first: send("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok")},
		{name: "no length, read to EOF",
			first: sendAndClose("HTTP/1.1 200 OK\r\n\r\nthe body until the end"), want: wantNotReused},
		{name: "connection close", first: send("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"), want: wantNotReused},
		{name: "closed before headers", first: sendAndClose(""), want: wantErr},
		{name: "closed in headers", first: sendAndClose("HTTP/1.1 200 OK\r\nContent-Le"), want: wantErr},
		{name: "closed mid-body", first: sendAndClose("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"), want: wantBodyErr},
		{name: "garbage after the response", closeWait: true,
			first: send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nsmug!"), want: wantNotReused},
		{name: "body past content-length", closeWait: true,
			first: send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"), want: wantNotReused},
		{name: "HEAD with content-length", method: http.MethodHead,
			first: send("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n"), want: wantReused},
		{name: "204", first: send("HTTP/1.1 204 No Content\r\n\r\n"), want: wantReused},
		{name: "304", first: send("HTTP/1.1 304 Not Modified\r\nContent-Length: 20\r\n\r\n"), want: wantReused},
		{name: "invalid status line", first: send("HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok"), want: wantErr},
		{name: "not HTTP", first: send("SSH-2.0-OpenSSH\r\n\r\n"), want: wantErr},
		{name: "negative content-length", first: send("HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok"), want: wantErr},
		{name: "unknown transfer-encoding", first: send("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nok")},
		{name: "chunked with trailer",
			first: send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n2\r\nok\r\n0\r\nX-T: v\r\n\r\n"), want: wantReused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			got := map[string]outcome{}
			for name, rt := range transports(t) {
				s := newRawServer(t, tt.first)
				got[name] = exchange(t, rt, s, method, tt.closeWait)
			}
			if d := cmp.Diff(got["net-http"], got["h1"]); d != "" {
				t.Errorf("net/http (-) and h1 (+) differ:\n%s", d)
			}
			if !got["h1"].Second {
				t.Errorf("the second request failed: %+v", got["h1"])
			}
			if tt.want != nil {
				tt.want(t, got["h1"])
			}
			t.Logf("%+v", got["h1"])
		})
	}
}

func wantErr(t *testing.T, o outcome) {
	t.Helper()
	if !o.Err {
		t.Errorf("no error: %+v", o)
	}
}

func wantBodyErr(t *testing.T, o outcome) {
	t.Helper()
	if o.Err || !o.BodyErr {
		t.Errorf("want a response whose body fails: %+v", o)
	}
}

func wantReused(t *testing.T, o outcome) {
	t.Helper()
	if o.Err || o.BodyErr || !o.Reused {
		t.Errorf("want a good exchange on a reused connection: %+v", o)
	}
}

func wantNotReused(t *testing.T, o outcome) {
	t.Helper()
	if o.Reused {
		t.Errorf("the connection was reused: %+v", o)
	}
}
