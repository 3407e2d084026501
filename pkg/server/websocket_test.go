package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
)

// wsKey is the sample key of RFC 6455 section 1.3, whose accept value is given
// there.
const (
	wsKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	wsAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

func TestWebSocketAccept(t *testing.T) {
	if got := websocketAccept(wsKey); got != wsAccept {
		t.Errorf("websocketAccept(%q) = %q, want %q (RFC 6455 section 1.3)", wsKey, got, wsAccept)
	}
}

// wsHeader is a valid client handshake's header, with extra set over it (an
// empty value list removes the header).
func wsHeader(extra http.Header) http.Header {
	h := http.Header{
		"Connection":            {"Upgrade"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Key":     {wsKey},
		"Sec-Websocket-Version": {"13"},
	}
	for k, v := range extra {
		k = http.CanonicalHeaderKey(k)
		if len(v) == 0 {
			delete(h, k)
			continue
		}
		h[k] = v
	}
	return h
}

func TestCheckUpgrade(t *testing.T) {
	tests := []struct {
		name      string
		method    string // default GET
		proto     string // default HTTP/1.1
		header    http.Header
		wantWS    bool
		wantError bool
	}{
		{name: "no upgrade", header: http.Header{}},
		{name: "Upgrade without the connection option is ignored", header: http.Header{"Upgrade": {"h2c"}}},
		{name: "Connection: upgrade without Upgrade", header: http.Header{"Connection": {"Upgrade"}}},
		{name: "websocket", header: wsHeader(nil), wantWS: true},
		{name: "websocket, other case and Connection list", header: wsHeader(http.Header{"Upgrade": {"WebSocket"}, "Connection": {"keep-alive, upgrade"}}), wantWS: true},
		{name: "h2c", header: http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Upgrade": {"h2c"}, "Http2-Settings": {"AAMAAABkAARAAAAAAAIAAAAA"}}, wantError: true},
		{name: "websocket among others", header: wsHeader(http.Header{"Upgrade": {"websocket, h2c"}}), wantError: true},
		{name: "two Upgrade headers", header: wsHeader(http.Header{"Upgrade": {"websocket", "websocket"}}), wantError: true},
		{name: "empty Upgrade", header: wsHeader(http.Header{"Upgrade": {""}}), wantError: true},
		{name: "POST", method: http.MethodPost, header: wsHeader(nil), wantError: true},
		{name: "HTTP/1.0", proto: "HTTP/1.0", header: wsHeader(nil), wantError: true},
		{name: "no key", header: wsHeader(http.Header{"Sec-Websocket-Key": nil}), wantError: true},
		{name: "two keys", header: wsHeader(http.Header{"Sec-Websocket-Key": {wsKey, wsKey}}), wantError: true},
		{name: "key not base64", header: wsHeader(http.Header{"Sec-Websocket-Key": {"not base64!"}}), wantError: true},
		{name: "key of 15 bytes", header: wsHeader(http.Header{"Sec-Websocket-Key": {"AAAAAAAAAAAAAAAAAAAA"}}), wantError: true},
		{name: "no version", header: wsHeader(http.Header{"Sec-Websocket-Version": nil}), wantError: true},
		{name: "version 8", header: wsHeader(http.Header{"Sec-Websocket-Version": {"8"}}), wantError: true},
		{name: "two versions", header: wsHeader(http.Header{"Sec-Websocket-Version": {"13", "13"}}), wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			r := httptest.NewRequest(method, "/chat/realtime", nil)
			if tt.proto != "" {
				r.Proto = tt.proto
				r.ProtoMajor, r.ProtoMinor, _ = http.ParseHTTPVersion(tt.proto)
			}
			r.Header = tt.header
			hs, e := checkUpgrade(r)
			if (e != nil) != tt.wantError {
				t.Fatalf("checkUpgrade error = %+v, want error %v", e, tt.wantError)
			}
			if e != nil {
				if e.status != http.StatusBadRequest || e.code != codeInvalidRequest {
					t.Errorf("refusal = %+v, want 400 invalid_request", e)
				}
				return
			}
			if (hs != nil) != tt.wantWS {
				t.Fatalf("handshake = %+v, want one: %v", hs, tt.wantWS)
			}
			if hs != nil && hs.accept != wsAccept {
				t.Errorf("accept = %q, want %q", hs.accept, wsAccept)
			}
		})
	}
}

func TestForwardedProtocols(t *testing.T) {
	const tok = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
	tests := []struct {
		name        string
		values      []string
		want        []string
		wantOffered bool
		wantError   bool
		wantHeader  []string // the upstream's Sec-WebSocket-Protocol; nil: none
	}{
		{name: "none"},
		{name: "realtime and the bearer entry", values: []string{"realtime, jwtgate.bearer." + tok}, want: []string{"realtime"}, wantOffered: true, wantHeader: []string{"realtime"}},
		{name: "openai's entries", values: []string{"realtime", "openai-insecure-api-key." + tok, "openai-beta.realtime-v1"}, want: []string{"realtime", "openai-beta.realtime-v1"}, wantOffered: true, wantHeader: []string{"realtime, openai-beta.realtime-v1"}},
		{name: "only the token", values: []string{"jwtgate.bearer." + tok}, want: []string{}, wantOffered: true},
		{name: "jwtgate's namespace and odd case", values: []string{"JWTGATE.BEARER." + tok + ",jwtgate.dpop.proof, chat"}, want: []string{"chat"}, wantOffered: true, wantHeader: []string{"chat"}},
		{name: "empty header", values: []string{""}, want: nil, wantOffered: true},
		{name: "malformed", values: []string{"realtime, jwtgate.bearer.a=b"}, wantOffered: true, wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.values != nil {
				h[protocolHeader] = tt.values
			}
			kept, offered, e := forwardedProtocols(h)
			if (e != nil) != tt.wantError || offered != tt.wantOffered {
				t.Fatalf("forwardedProtocols = %q, %v, %+v; want offered %v, error %v", kept, offered, e, tt.wantOffered, tt.wantError)
			}
			if e != nil {
				if strings.Contains(e.desc, "a=b") {
					t.Errorf("refusal %q quotes the entry", e.desc)
				}
				return
			}
			if diff := cmp.Diff(tt.want, kept); diff != "" {
				t.Errorf("kept (-want +got):\n%s", diff)
			}
			setProtocols(h, kept)
			if diff := cmp.Diff(tt.wantHeader, h[protocolHeader]); diff != "" {
				t.Errorf("upstream header (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckAccept(t *testing.T) {
	hs := &wsHandshake{accept: wsAccept}
	valid := func(extra http.Header) http.Header {
		h := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Accept": {wsAccept}}
		for k, v := range extra {
			k = http.CanonicalHeaderKey(k)
			if len(v) == 0 {
				delete(h, k)
				continue
			}
			h[k] = v
		}
		return h
	}
	offered := []string{"realtime", "chat"}
	tests := []struct {
		name    string
		hs      *wsHandshake
		header  http.Header
		wantErr bool
	}{
		{name: "valid, no subprotocol", hs: hs, header: valid(nil)},
		{name: "valid, realtime", hs: hs, header: valid(http.Header{protocolHeader: {"realtime"}})},
		{name: "no handshake was asked for", header: valid(nil), wantErr: true},
		{name: "h2c", hs: hs, header: valid(http.Header{"Upgrade": {"h2c"}}), wantErr: true},
		{name: "no Upgrade", hs: hs, header: valid(http.Header{"Upgrade": nil}), wantErr: true},
		{name: "no Connection", hs: hs, header: valid(http.Header{"Connection": nil}), wantErr: true},
		{name: "no accept", hs: hs, header: valid(http.Header{"Sec-Websocket-Accept": nil}), wantErr: true},
		{name: "wrong accept", hs: hs, header: valid(http.Header{"Sec-Websocket-Accept": {websocketAccept("AAAAAAAAAAAAAAAAAAAAAA==")}}), wantErr: true},
		{name: "two accepts", hs: hs, header: valid(http.Header{"Sec-Websocket-Accept": {wsAccept, wsAccept}}), wantErr: true},
		{name: "subprotocol not offered", hs: hs, header: valid(http.Header{protocolHeader: {"other"}}), wantErr: true},
		{name: "two subprotocols", hs: hs, header: valid(http.Header{protocolHeader: {"realtime", "chat"}}), wantErr: true},
		{name: "subprotocol list", hs: hs, header: valid(http.Header{protocolHeader: {"realtime, chat"}}), wantErr: true},
		{name: "the bearer entry", hs: hs, header: valid(http.Header{protocolHeader: {"jwtgate.bearer.eyJ.eyJ.c2ln"}}), wantErr: true},
		{name: "the openai entry", hs: hs, header: valid(http.Header{protocolHeader: {"openai-insecure-api-key.eyJ.eyJ.c2ln"}}), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkAccept(&http.Response{StatusCode: http.StatusSwitchingProtocols, Header: tt.header}, tt.hs, offered)
			if (err != nil) != tt.wantErr {
				t.Fatalf("checkAccept = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, errBadUpgrade) {
				t.Errorf("error %v does not wrap errBadUpgrade", err)
			}
		})
	}
	// An entry of jwtgate's is refused even if it was somehow offered.
	err := checkAccept(&http.Response{Header: valid(http.Header{protocolHeader: {"jwtgate.bearer.x"}})}, hs, []string{"jwtgate.bearer.x"})
	if !errors.Is(err, errBadUpgrade) {
		t.Errorf("checkAccept of an offered jwtgate entry = %v, want errBadUpgrade", err)
	}
}

func TestProxyRefusesUpgrades(t *testing.T) {
	tests := []struct {
		name   string
		method string
		header http.Header
	}{
		{name: "h2c", method: "GET", header: http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Upgrade": {"h2c"}, "Http2-Settings": {"AAMAAABkAARAAAAAAAIAAAAA"}}},
		{name: "websocket by POST", method: "POST", header: wsHeader(http.Header{"Content-Length": {"0"}})},
		{name: "no key", method: "GET", header: wsHeader(http.Header{"Sec-Websocket-Key": nil})},
		{name: "version 8", method: "GET", header: wsHeader(http.Header{"Sec-Websocket-Version": {"8"}})},
		{name: "websocket and h2c", method: "GET", header: wsHeader(http.Header{"Upgrade": {"websocket, h2c"}})},
		{name: "malformed subprotocols", method: "GET", header: wsHeader(http.Header{protocolHeader: {"realtime, a b"}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newRecordingUpstream(t)
			front, _ := newTestFront(t, testChatConfig(up.url))
			resp, body := rawRequest(t, front, tt.method, "/chat/v1/realtime", tt.header)
			wantError(t, resp, body, http.StatusBadRequest, codeInvalidRequest, up.url)
			if n := up.count.Load(); n != 0 {
				t.Errorf("upstream received %d requests, want none", n)
			}
		})
	}
}

// newSwitchingUpstream answers every request with a 101 carrying header, written
// on the raw connection, and counts the requests.
func newSwitchingUpstream(t *testing.T, header func(r *http.Request) http.Header) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
		header(r).Write(brw)
		brw.WriteString("\r\n")
		brw.Flush()
		// Hold the connection until the proxy closes its side.
		io.Copy(io.Discard, conn)
	})
	return srv, &n
}

func TestProxyRefusesBadSwitch(t *testing.T) {
	accept := func(r *http.Request) string { return websocketAccept(r.Header.Get("Sec-Websocket-Key")) }
	tests := []struct {
		name    string
		request http.Header // the client's; nil: a plain GET
		answer  func(r *http.Request) http.Header
	}{
		{name: "wrong accept", request: wsHeader(nil), answer: func(*http.Request) http.Header {
			return http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Accept": {wsAccept + "x"}}
		}},
		{name: "no accept", request: wsHeader(nil), answer: func(*http.Request) http.Header {
			return http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}
		}},
		{name: "h2c for a websocket", request: wsHeader(nil), answer: func(r *http.Request) http.Header {
			return http.Header{"Connection": {"Upgrade"}, "Upgrade": {"h2c"}, "Sec-Websocket-Accept": {accept(r)}}
		}},
		{name: "subprotocol not offered", request: wsHeader(http.Header{protocolHeader: {"realtime"}}), answer: func(r *http.Request) http.Header {
			return http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Accept": {accept(r)}, protocolHeader: {"other"}}
		}},
		{name: "the token entry", request: wsHeader(http.Header{protocolHeader: {"realtime, jwtgate.bearer." + testSessionToken}}), answer: func(r *http.Request) http.Header {
			return http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Accept": {accept(r)}, protocolHeader: {"jwtgate.bearer." + testSessionToken}}
		}},
		{name: "101 to a plain GET", answer: func(*http.Request) http.Header {
			return http.Header{"Connection": {"Upgrade"}, "Upgrade": {"h2c"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, n := newSwitchingUpstream(t, tt.answer)
			m := newUpstreamMetrics()
			front, logs := newMeteredFront(t, testChatConfig(mustParseURL(t, up.URL)), m)
			h := tt.request
			if h == nil {
				h = http.Header{"Connection": {"close"}}
			}
			resp, body := rawRequest(t, front, http.MethodGet, "/chat/v1/realtime", h)
			wantError(t, resp, body, http.StatusBadGateway, codeUpstreamUnavailable, mustParseURL(t, up.URL))
			if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "" {
				t.Errorf("Sec-WebSocket-Protocol = %q in the refusal", got)
			}
			if n.Load() != 1 {
				t.Errorf("upstream saw %d requests, want 1", n.Load())
			}
			if got := readUpstreamCounts(t, m).errors[upstreamUnreachable]; got != 1 {
				t.Errorf("unreachable errors = %v, want 1", got)
			}
			if !strings.Contains(logs.String(), "not a valid WebSocket accept") {
				t.Errorf("log does not say why:\n%s", logs)
			}
		})
	}
}

// wsEchoUpstream accepts WebSockets with subprotocol realtime and sends each
// message back; it records the handshake headers it received. With silent set
// it reads nothing and sends nothing until the connection ends.
type wsEchoUpstream struct {
	srv     *httptest.Server
	headers chan http.Header
}

func newWSEchoUpstream(t *testing.T, silent bool) *wsEchoUpstream {
	t.Helper()
	u := &wsEchoUpstream{headers: make(chan http.Header, 8)}
	u.srv = newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		u.headers <- r.Header.Clone()
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"realtime"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		if silent {
			// CloseRead would answer the peer's close frames; a silent
			// upstream just holds the connection until the proxy drops it.
			_, _, _ = c.Reader(context.Background())
			return
		}
		for {
			typ, msg, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if err := c.Write(context.Background(), typ, msg); err != nil {
				return
			}
		}
	})
	return u
}

// dialFront opens a WebSocket through front to path, offering protocols.
func dialFront(t *testing.T, ctx context.Context, front *httptest.Server, path string, protocols ...string) (*websocket.Conn, *http.Response) {
	t.Helper()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(front.URL, "http")+path, &websocket.DialOptions{
		Subprotocols: protocols,
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + testSessionToken}},
	})
	if err != nil {
		t.Fatalf("dialling through the proxy: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c, resp
}

// waitLog waits until the log holds want, failing at the guard.
func waitLog(t *testing.T, logs *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log never got %q:\n%s", want, logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestProxyWebSocketRewritesSubprotocols(t *testing.T) {
	up := newWSEchoUpstream(t, false)
	front, _ := newTestFront(t, testChatConfig(mustParseURL(t, up.srv.URL+"/v1")))
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	c, resp := dialFront(t, ctx, front, "/chat/realtime?model=m", "realtime", "openai-insecure-api-key."+testSessionToken, "jwtgate.bearer."+testSessionToken)

	h := <-up.headers
	if got := h.Values("Sec-WebSocket-Protocol"); !cmp.Equal(got, []string{"realtime"}) {
		t.Errorf("upstream Sec-WebSocket-Protocol = %q, want [realtime]", got)
	}
	if got := h.Get("Authorization"); got != "Bearer "+testAPIKey {
		t.Errorf("upstream Authorization = %q, want the API key", got)
	}
	if got := resp.Header.Values("Sec-WebSocket-Protocol"); !cmp.Equal(got, []string{"realtime"}) {
		t.Errorf("101 Sec-WebSocket-Protocol = %q, want [realtime]", got)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "ping" {
		t.Fatalf("echo = %q, %v", msg, err)
	}
}

// TestProxyWebSocketIdle ends a connection on which nothing moves after
// chat.idle_timeout. It asserts only that the proxy ended it, not when.
func TestProxyWebSocketIdle(t *testing.T) {
	up := newWSEchoUpstream(t, true)
	cfg := testChatConfig(mustParseURL(t, up.srv.URL))
	cfg.IdleTimeout = 20 * time.Millisecond
	m := newUpstreamMetrics()
	front, logs := newMeteredFront(t, cfg, m)
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	c, _ := dialFront(t, ctx, front, "/chat/realtime", "realtime")
	if _, _, err := c.Read(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("Read = %v (guard: %v), want the connection ended by the proxy", err, ctx.Err())
	}
	waitLog(t, logs, "reason=idle_timeout")
	if got := readUpstreamCounts(t, m).errors[upstreamTimeout]; got != 1 {
		t.Errorf("timeout errors = %v, want 1", got)
	}
}

// TestProxyWebSocketMaxDuration ends a busy connection at
// chat.max_stream_duration.
func TestProxyWebSocketMaxDuration(t *testing.T) {
	up := newWSEchoUpstream(t, false)
	cfg := testChatConfig(mustParseURL(t, up.srv.URL))
	cfg.MaxStreamDuration = 50 * time.Millisecond
	front, logs := newTestFront(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	c, _ := dialFront(t, ctx, front, "/chat/realtime", "realtime")
	var err error
	for err == nil {
		if err = c.Write(ctx, websocket.MessageText, []byte("busy")); err == nil {
			_, _, err = c.Read(ctx)
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("the connection ran to the guard: %v", err)
	}
	waitLog(t, logs, "reason=max_stream_duration")
}

// TestIdleConnTracksBothWays checks that traffic either way keeps the
// connection alive and silence ends it, on a fake clock.
func TestIdleConnTracksBothWays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		var idle atomic.Bool
		c := newIdleConn(a, time.Second, func() { idle.Store(true) })
		defer c.Close()
		go io.Copy(b, b) // echo back what is written
		buf := make([]byte, 1)
		for range 5 { // 5 s of traffic in steps shorter than the timeout
			time.Sleep(900 * time.Millisecond)
			if _, err := c.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Read(buf); err != nil {
				t.Fatal(err)
			}
		}
		if idle.Load() {
			t.Fatal("idle fired while bytes moved")
		}
		time.Sleep(2 * time.Second)
		if !idle.Load() {
			t.Fatal("idle did not fire after silence")
		}
	})
}
