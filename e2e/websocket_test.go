package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestWebSocketSubprotocolToken opens a WebSocket through the real binary the way
// a browser must, with the session token in the jwtgate.bearer. subprotocol entry,
// to a loopback WebSocket upstream, and checks that the upstream gets the real
// key and only the realtime subprotocol, that messages flow both ways, that the
// 101 echoes no token, and that the access line says 101.
func TestWebSocketSubprotocolToken(t *testing.T) {
	apiKey := newAPIKey(t)
	type handshake struct {
		path   string
		header http.Header
	}
	seen := make(chan handshake, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- handshake{path: r.URL.Path, header: r.Header.Clone()}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"realtime"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, append([]byte("upstream: "), msg...)); err != nil {
				return
			}
		}
	}))
	defer up.Close()

	s := startServer(t, []string{
		"JWTGATE_JWT_SECRET=" + newSecret(t),
		"JWTGATE_CHAT_UPSTREAM_URL=" + up.URL + "/v1",
	})
	tok := s.createSession(t, apiKey).AccessToken

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a bound for a broken run only
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(s.URL, "http") + "/chat/realtime?model=gpt-realtime"
	c, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{
		Subprotocols: []string{"realtime", "jwtgate.bearer." + tok},
	})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.CloseNow()

	if got := resp.Header.Values("Sec-WebSocket-Protocol"); !slices.Equal(got, []string{"realtime"}) {
		t.Errorf("101 Sec-WebSocket-Protocol = %q, want [realtime]", got)
	}
	for k, vs := range resp.Header {
		assertNoLeak(t, "101 header "+k, strings.Join(vs, ","), tok, apiKey)
	}

	hs := <-seen
	if hs.path != "/v1/realtime" {
		t.Errorf("upstream path = %q, want /v1/realtime", hs.path)
	}
	if got := hs.header.Get("Authorization"); got != "Bearer "+apiKey {
		t.Errorf("upstream Authorization = %q, want the API key", got)
	}
	if got := hs.header.Values("Sec-WebSocket-Protocol"); !slices.Equal(got, []string{"realtime"}) {
		t.Errorf("upstream Sec-WebSocket-Protocol = %q, want [realtime]", got)
	}
	for k, vs := range hs.header {
		assertNoLeak(t, "upstream header "+k, strings.Join(vs, ","), tok)
	}

	for _, msg := range []string{"one", "two"} {
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatalf("Write: %v", err)
		}
		_, got, err := c.Read(ctx)
		if err != nil || string(got) != "upstream: "+msg {
			t.Fatalf("Read = %q, %v; want %q", got, err, "upstream: "+msg)
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}

	// The access line is written when the connection ends.
	deadline := time.Now().Add(time.Minute)
	for !hasAccessLine(t, s, "/chat/*path", http.StatusSwitchingProtocols) {
		if time.Now().After(deadline) {
			t.Fatalf("no access line with status 101:\n%s", s.Logs())
		}
		time.Sleep(pollInterval)
	}
	s.Stop(t)
	assertNoLeak(t, "logs", s.Logs(), tok, apiKey)
}

// hasAccessLine reports whether s logged an access line for route with status.
func hasAccessLine(t *testing.T, s *server, route string, status int) bool {
	t.Helper()
	for _, rec := range logRecords(t, s) {
		if rec["msg"] == "request" && rec["route"] == route && rec["status"] == float64(status) {
			return true
		}
	}
	return false
}
