package server_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/server"
)

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// accessLines returns the access log records, in order.
func accessLines(t *testing.T, ts *testServer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, rec := range ts.logs.lines(t) {
		if rec["msg"] == "request" {
			out = append(out, rec)
		}
	}
	return out
}

func TestRequestID(t *testing.T) {
	tests := []struct {
		name   string
		sent   []string // X-Request-ID values the client sends
		keep   bool     // the first value is used as is
		status int
	}{
		{name: "well formed", sent: []string{"req-42_a.B"}, keep: true},
		{name: "128 characters", sent: []string{strings.Repeat("a", 128)}, keep: true},
		{name: "first of two", sent: []string{"first", "second"}, keep: true},
		{name: "none"},
		{name: "empty", sent: []string{""}},
		{name: "129 characters", sent: []string{strings.Repeat("a", 129)}},
		{name: "space", sent: []string{"two words"}},
		{name: "quote", sent: []string{`x"y`}},
		{name: "slash", sent: []string{"a/b"}},
		{name: "non-ASCII", sent: []string{"ünïcode"}},
		{name: "looks like a token", sent: []string{"Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t)
			res := ts.do(t, request{method: http.MethodGet, path: "/healthz", headers: http.Header{server.RequestIDHeader: tt.sent}})
			got := res.header.Values(server.RequestIDHeader)
			if len(got) != 1 {
				t.Fatalf("response X-Request-ID = %q, want one value", got)
			}
			if tt.keep {
				if got[0] != tt.sent[0] {
					t.Errorf("X-Request-ID = %q, want the client's %q", got[0], tt.sent[0])
				}
			} else if !generatedID.MatchString(got[0]) {
				t.Errorf("X-Request-ID = %q, want 32 generated hex digits", got[0])
			}
			lines := accessLines(t, ts)
			if len(lines) != 1 {
				t.Fatalf("%d access lines, want 1", len(lines))
			}
			if id := lines[0]["request_id"]; id != got[0] {
				t.Errorf("access line request_id = %v, want the response's %q", id, got[0])
			}
			for _, v := range tt.sent {
				if !tt.keep && v != "" && strings.Contains(ts.logs.String(), v) {
					t.Errorf("the log carries the refused id %q", v)
				}
			}
		})
	}
}

func TestRequestIDsDiffer(t *testing.T) {
	ts := newTestServer(t)
	seen := map[string]bool{}
	for range 20 {
		id := ts.do(t, request{method: http.MethodGet, path: "/healthz"}).header.Get(server.RequestIDHeader)
		if seen[id] {
			t.Fatalf("request id %q generated twice", id)
		}
		seen[id] = true
	}
}

// TestRequestIDInHandlerLogs checks that what a handler logs about a request
// carries the request's id too.
func TestRequestIDInHandlerLogs(t *testing.T) {
	ts := newTestServer(t)
	res := ts.do(t, request{method: http.MethodGet, path: "/sessions/current", bearer: "a.b.c",
		headers: http.Header{server.RequestIDHeader: {"refused-1"}}})
	wantError(t, res, http.StatusUnauthorized, "invalid_token")
	var refused, access int
	for _, rec := range ts.logs.lines(t) {
		switch rec["msg"] {
		case "token refused":
			refused++
			if rec["request_id"] != "refused-1" {
				t.Errorf("token refused line = %v, want request_id refused-1", rec)
			}
		case "request":
			access++
			if rec["request_id"] != "refused-1" {
				t.Errorf("access line = %v, want request_id refused-1", rec)
			}
		}
	}
	if refused != 1 || access != 1 {
		t.Errorf("%d token refused and %d access lines, want one each:\n%s", refused, access, ts.logs)
	}
}

// TestRequestIDForwardedUpstream checks that the chat upstream gets the id the
// client sees and the log records, and that an upstream's own id does not
// reach the client as a second value.
func TestRequestIDForwardedUpstream(t *testing.T) {
	upstreamSaw := make(chan string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamSaw <- r.Header.Get(server.RequestIDHeader)
		w.Header().Set(server.RequestIDHeader, "upstream-own-id")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(up.Close)
	u, err := url.Parse(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, func(o *testOptions) { o.cfg.Chat.UpstreamURL = u })
	tok := ts.createSession(t, "").AccessToken

	for _, sent := range []string{"client-id-7", "not ok!"} {
		res := ts.do(t, request{method: http.MethodPost, path: "/chat/completions", bearer: tok, body: `{}`, ctype: "application/json",
			headers: http.Header{server.RequestIDHeader: {sent}}})
		if res.status != http.StatusOK {
			t.Fatalf("chat = %d %s", res.status, res.body)
		}
		got := res.header.Values(server.RequestIDHeader)
		if len(got) != 1 {
			t.Fatalf("response X-Request-ID = %q, want one value", got)
		}
		if sent == "client-id-7" && got[0] != sent {
			t.Errorf("response X-Request-ID = %q, want the client's %q", got[0], sent)
		}
		if seen := <-upstreamSaw; seen != got[0] {
			t.Errorf("upstream saw X-Request-ID %q, client got %q", seen, got[0])
		}
	}
	lines := accessLines(t, ts)
	if len(lines) != 3 || lines[1]["request_id"] != "client-id-7" {
		t.Errorf("access lines = %v, want the second with request_id client-id-7", lines)
	}
}
