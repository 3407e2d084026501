package server

import (
	"bufio"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// sendRaw sends raw on a fresh connection to front, half-closing it after
// when closeWrite is set, and returns the response and its body.
func sendRaw(t *testing.T, front *httptest.Server, raw string, closeWrite bool) (*http.Response, string) {
	t.Helper()
	resp, err := tryRaw(t, front, raw, closeWrite)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return resp, string(body)
}

// tryRaw is sendRaw that returns the error reading the response. The body is
// read into the response before the connection closes.
func tryRaw(t *testing.T, front *httptest.Server, raw string, closeWrite bool) (*http.Response, error) {
	t.Helper()
	var d net.Dialer
	conn, err := d.DialContext(t.Context(), "tcp", mustParseURL(t, front.URL).Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(guard))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	if closeWrite {
		conn.(*net.TCPConn).CloseWrite()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	return resp, err
}

// TestProxyClientBodyFaults: a request body the client got wrong was answered
// 502 and counted as an unreachable upstream, so any token holder could raise
// outage alerts. It is the client's 400, and no upstream error; a client that
// closes its side of the connection before the end of its body has gone away.
func TestProxyClientBodyFaults(t *testing.T) {
	const head = "POST /chat/completions HTTP/1.1\r\nHost: jwtgate\r\nAuthorization: Bearer " + testSessionToken + "\r\nContent-Type: application/json\r\n"
	tests := []struct {
		name       string
		raw        string
		closeWrite bool
		forwarded  bool // the upstream sees the request before the fault
		gone       bool // the client is gone: no answer, counted as canceled
	}{
		{
			name:      "malformed chunked body",
			raw:       head + "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\nzz\r\n",
			forwarded: true,
		},
		{
			name: "invalid trailer name",
			raw:  head + "Transfer-Encoding: chunked\r\nTrailer: Bad Name\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
		},
		{
			name:       "body cut short",
			raw:        head + "Content-Length: 100\r\n\r\n{\"model\":",
			closeWrite: true,
			forwarded:  true,
			gone:       true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newRecordingUpstream(t) // reads the whole body before answering
			m := newUpstreamMetrics()
			front, logs := newMeteredFront(t, testChatConfig(up.url), m)
			if tt.gone {
				if resp, err := tryRaw(t, front, tt.raw, tt.closeWrite); err == nil {
					t.Errorf("a client gone before the end of its body was answered %d", resp.StatusCode)
				}
			} else {
				resp, body := sendRaw(t, front, tt.raw, tt.closeWrite)
				wantError(t, resp, body, http.StatusBadRequest, "invalid_request", up.url)
			}
			front.Close() // waits for the handler
			got := readUpstreamCounts(t, m)
			want := map[string]float64{}
			if tt.gone {
				want[upstreamCanceled] = 1
			}
			if !maps.Equal(got.errors, want) {
				t.Errorf("upstream errors counted: %v, want %v", got.errors, want)
			}
			if n := up.count.Load(); !tt.forwarded && n != 0 {
				t.Errorf("upstream received %d requests, want none", n)
			}
			l := logs.String()
			if strings.Contains(l, "chat upstream request failed") {
				t.Errorf("a client fault was logged as an upstream failure:\n%s", l)
			}
			if tt.forwarded && !tt.gone && !strings.Contains(l, "chat request body could not be read") {
				t.Errorf("the log does not say the body could not be read:\n%s", l)
			}
		})
	}
}

// TestProxyBodyLimitStreamed: a chunked body past chat.max_body_bytes is still a
// 413, not the generic client fault.
func TestProxyBodyLimitStreamed(t *testing.T) {
	up := newRecordingUpstream(t)
	cfg := testChatConfig(up.url)
	cfg.MaxBodyBytes = 8
	m := newUpstreamMetrics()
	front, _ := newMeteredFront(t, cfg, m)
	resp, body := sendRaw(t, front, "POST /chat/completions HTTP/1.1\r\nHost: jwtgate\r\nAuthorization: Bearer "+testSessionToken+
		"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n", false)
	wantError(t, resp, body, http.StatusRequestEntityTooLarge, "invalid_request", up.url)
	front.Close()
	if got := readUpstreamCounts(t, m).errors; !maps.Equal(got, map[string]float64{upstreamTooLarge: 1}) {
		t.Errorf("upstream errors = %v, want too_large 1", got)
	}
}
