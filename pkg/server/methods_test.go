package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestMethodSet(t *testing.T) {
	tests := []struct {
		name      string
		methods   []string
		wantAllow string
		allowed   []string
		refused   []string
	}{
		{name: "default", wantAllow: "GET, POST, PUT, PATCH, DELETE, HEAD",
			allowed: []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}, refused: []string{"OPTIONS", "TRACE", "CONNECT", "get", "PROPFIND"}},
		{name: "narrowed", methods: []string{"POST"}, wantAllow: "POST", allowed: []string{"POST"}, refused: []string{"GET", "HEAD"}},
		{name: "TRACE and CONNECT listed", methods: []string{"TRACE", "GET", "CONNECT", "GET"}, wantAllow: "GET", allowed: []string{"GET"}, refused: []string{"TRACE", "CONNECT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newMethodSet(tt.methods)
			if s.allow != tt.wantAllow {
				t.Errorf("allow = %q, want %q", s.allow, tt.wantAllow)
			}
			for _, m := range tt.allowed {
				if !s.allows(m) {
					t.Errorf("%s refused", m)
				}
			}
			for _, m := range tt.refused {
				if s.allows(m) {
					t.Errorf("%s allowed", m)
				}
			}
		})
	}
}

// rawRequest sends method and target with the session token and extra header
// lines exactly as given, and returns the response and its body.
func rawRequest(t *testing.T, front *httptest.Server, method, target string, header http.Header) (*http.Response, string) {
	t.Helper()
	addr := mustParseURL(t, front.URL).Host
	var d net.Dialer
	conn, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(guard))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n", method, target, addr, testSessionToken)
	if err := header.Write(&b); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response to %s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("reading body: %v", err)
	}
	return resp, string(body)
}

func TestProxyRefusesMethods(t *testing.T) {
	tests := []struct {
		name      string
		methods   []string
		method    string
		wantAllow string
	}{
		{name: "TRACE", method: "TRACE", wantAllow: "GET, POST, PUT, PATCH, DELETE, HEAD"},
		{name: "CONNECT", method: "CONNECT", wantAllow: "GET, POST, PUT, PATCH, DELETE, HEAD"},
		{name: "OPTIONS by default", method: "OPTIONS", wantAllow: "GET, POST, PUT, PATCH, DELETE, HEAD"},
		// Listing TRACE or CONNECT is refused by ChatConfig.Validate, which the
		// proxy's constructor runs (TestChatConfigValidate); should a list hold
		// them anyway, newMethodSet drops them (TestMethodSet).
		{name: "GET when not listed", methods: []string{"POST"}, method: "GET", wantAllow: "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newRecordingUpstream(t)
			cfg := testChatConfig(up.url)
			cfg.AllowedMethods = tt.methods
			front, _ := newTestFront(t, cfg)
			resp, body := rawRequest(t, front, tt.method, "/chat/v1/models", http.Header{"Connection": {"close"}})
			wantError(t, resp, body, http.StatusMethodNotAllowed, codeInvalidRequest, up.url)
			if got := resp.Header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
			if n := up.count.Load(); n != 0 {
				t.Errorf("upstream received %d requests, want none", n)
			}
		})
	}
}

func TestProxyAllowsListedMethods(t *testing.T) {
	up := newRecordingUpstream(t)
	cfg := testChatConfig(up.url)
	cfg.AllowedMethods = []string{"OPTIONS", "POST"}
	front, _ := newTestFront(t, cfg)
	resp, _ := rawRequest(t, front, "OPTIONS", "/chat/v1/models", http.Header{"Connection": {"close"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("OPTIONS status = %d, want 200 from the upstream", resp.StatusCode)
	}
	if got := up.next(t); got.Method != "OPTIONS" {
		t.Errorf("upstream got %s, want OPTIONS", got.Method)
	}
}
