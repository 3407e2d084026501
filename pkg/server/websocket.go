package server

import (
	"bufio"
	"crypto/sha1" // RFC 6455 fixes SHA-1 for Sec-WebSocket-Accept; nothing secret is hashed
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/net/http/httpguts"
)

// errBadUpgrade means the upstream answered 101 with something other than a
// valid WebSocket accept of the handshake it was sent. The client gets 502.
var errBadUpgrade = errors.New("chat upstream's 101 is not a valid WebSocket accept")

// websocketGUID is the RFC 6455 section 1.3 constant hashed into
// Sec-WebSocket-Accept.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// wsHandshake is a client's WebSocket opening handshake, checked.
type wsHandshake struct {
	accept string // the Sec-WebSocket-Accept a valid answer carries
}

// checkUpgrade refuses every Upgrade but a valid WebSocket opening handshake
// (RFC 6455 section 4.2.1), before anything is forwarded: an upstream that
// switched to another protocol (h2c) would turn the connection into a raw tunnel
// past every path rule. It returns nil, nil for a request that asks for no
// upgrade (see asksUpgrade).
func checkUpgrade(r *http.Request) (*wsHandshake, *apiError) {
	h := r.Header
	if !asksUpgrade(h) {
		return nil, nil
	}
	switch {
	case !isOnlyWebSocket(h["Upgrade"]):
		return nil, invalidRequest("only WebSocket upgrades are accepted (Upgrade: websocket)")
	case r.ProtoMajor != 1 || r.ProtoMinor < 1:
		return nil, invalidRequest("a WebSocket upgrade needs HTTP/1.1")
	case r.Method != http.MethodGet:
		return nil, invalidRequest("a WebSocket upgrade must be a GET")
	}
	// What passes here is a ginauth.IsWebSocketUpgrade too, so the middleware
	// has read the subprotocol entries of every upgrade that is forwarded.
	keys := h["Sec-Websocket-Key"]
	if len(keys) != 1 || !validWebSocketKey(keys[0]) {
		return nil, invalidRequest("a WebSocket upgrade needs one Sec-WebSocket-Key of 16 bytes in base64")
	}
	if v := h["Sec-Websocket-Version"]; len(v) != 1 || v[0] != "13" {
		return nil, invalidRequest("a WebSocket upgrade needs Sec-WebSocket-Version: 13")
	}
	return &wsHandshake{accept: websocketAccept(keys[0])}, nil
}

// asksUpgrade reports whether h asks to switch protocols: an Upgrade header
// with "upgrade" among the Connection options. An Upgrade header without that
// option is ignored (RFC 9110 section 7.8) and, being hop-by-hop, never reaches
// the upstream; the reverse proxy forwards an upgrade exactly when this holds.
func asksUpgrade(h http.Header) bool {
	return len(h["Upgrade"]) > 0 && httpguts.HeaderValuesContainsToken(h["Connection"], "upgrade")
}

// isOnlyWebSocket reports whether the Upgrade values name the websocket protocol
// and nothing else: the proxy forwards the first value alone, so a list would
// mean one thing to jwtgate and another to the upstream.
func isOnlyWebSocket(values []string) bool {
	return len(values) == 1 && strings.EqualFold(strings.Trim(values[0], " \t"), "websocket")
}

func validWebSocketKey(k string) bool {
	b, err := base64.StdEncoding.Strict().DecodeString(k)
	return err == nil && len(b) == 16
}

// websocketAccept returns the Sec-WebSocket-Accept for key (RFC 6455 section
// 4.2.2): the base64 SHA-1 of the key and the protocol's GUID.
func websocketAccept(key string) string {
	sum := sha1.Sum([]byte(key + websocketGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// checkAccept reports whether res, an upstream's 101, accepts the handshake hs
// with one of the offered subprotocols (RFC 6455 section 4.1, the client's
// checks). A 101 to a request that asked for no WebSocket (hs nil) is refused
// too. The errors wrap errBadUpgrade and quote nothing the upstream sent.
func checkAccept(res *http.Response, hs *wsHandshake, offered []string) error {
	h := res.Header
	switch {
	case hs == nil:
		return fmt.Errorf("%w: the request asked for no WebSocket", errBadUpgrade)
	case !isOnlyWebSocket(h["Upgrade"]):
		return fmt.Errorf("%w: Upgrade is not websocket", errBadUpgrade)
	case !httpguts.HeaderValuesContainsToken(h["Connection"], "upgrade"):
		return fmt.Errorf("%w: Connection lacks upgrade", errBadUpgrade)
	}
	if a := h["Sec-Websocket-Accept"]; len(a) != 1 || strings.Trim(a[0], " \t") != hs.accept {
		return fmt.Errorf("%w: Sec-WebSocket-Accept does not match the key", errBadUpgrade)
	}
	return checkSelectedProtocol(h, offered)
}

// checkHandshake checks what a chat request asks of the connection before it is
// forwarded: the upgrade, if any (see checkUpgrade), and the offered
// subprotocols, less jwtgate's own entries (see forwardedProtocols).
func checkHandshake(r *http.Request) (hs *wsHandshake, protocols []string, offered bool, e *apiError) {
	if hs, e = checkUpgrade(r); e != nil {
		return nil, nil, false, e
	}
	if protocols, offered, e = forwardedProtocols(r.Header); e != nil {
		return nil, nil, false, e
	}
	return hs, protocols, offered, nil
}

// switchWriter is the response writer of a WebSocket upgrade. The reverse proxy
// writes the 101 straight to the hijacked connection, past gin's writer, whose
// status would stay 200: setting it first makes the access log line and the
// request metrics say 101. Only a handshake that the upstream accepted (see
// checkAccept) gets as far as the hijack.
type switchWriter struct {
	gin.ResponseWriter
}

// Hijack implements http.Hijacker.
func (w switchWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.ResponseWriter.WriteHeader(http.StatusSwitchingProtocols)
	return w.ResponseWriter.Hijack()
}

// Unwrap lets http.ResponseController reach gin's writer.
func (w switchWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// idleConn is the upstream side of an upgraded connection. It calls onIdle when
// no byte has moved in either direction for d: reads carry the upstream's
// frames to the client, writes the client's frames to the upstream, and both go
// through it. Activity is a timestamp, so the hot path takes no lock and resets
// no timer; the timer, when it fires, re-arms itself for the time left.
type idleConn struct {
	rwc    io.ReadWriteCloser
	d      time.Duration
	base   time.Time    // monotonic origin of last
	last   atomic.Int64 // nanoseconds after base of the last traffic
	closed atomic.Bool
	timer  *time.Timer
	onIdle func()
}

func newIdleConn(rwc io.ReadWriteCloser, d time.Duration, onIdle func()) *idleConn {
	c := &idleConn{rwc: rwc, d: d, base: time.Now(), onIdle: onIdle}
	c.timer = time.AfterFunc(d, c.check)
	return c
}

func (c *idleConn) touch() { c.last.Store(int64(time.Since(c.base))) }

// check runs on the timer: idle long enough ends the connection, else the timer
// waits out the rest.
func (c *idleConn) check() {
	if c.closed.Load() {
		return
	}
	idle := time.Since(c.base) - time.Duration(c.last.Load())
	if idle >= c.d {
		c.onIdle()
		return
	}
	c.timer.Reset(c.d - idle)
}

func (c *idleConn) Read(p []byte) (int, error) {
	n, err := c.rwc.Read(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

func (c *idleConn) Write(p []byte) (int, error) {
	n, err := c.rwc.Write(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

func (c *idleConn) Close() error {
	c.closed.Store(true)
	c.timer.Stop()
	return c.rwc.Close()
}

// acceptUpgrade is the proxy's answer to an upstream's 101: a valid WebSocket
// accept of call's handshake passes, with its connection under chat.idle_timeout
// (chat.max_stream_duration ends it through the request context, which makes
// the reverse proxy close it); anything else becomes a 502.
func (p *chatProxy) acceptUpgrade(res *http.Response, call *proxyCall) error {
	if call == nil {
		return fmt.Errorf("%w: not a proxied call", errBadUpgrade)
	}
	if err := checkAccept(res, call.ws, call.protocols); err != nil {
		return err
	}
	rwc, ok := res.Body.(io.ReadWriteCloser)
	if !ok {
		return fmt.Errorf("%w: the upgraded body is not writable", errBadUpgrade)
	}
	if p.idleTimeout > 0 {
		res.Body = newIdleConn(rwc, p.idleTimeout, func() { call.cancel(errIdleTimeout) })
	}
	return nil
}

// refuseEchoUpgrade answers every Upgrade on the built-in echo backend, which
// speaks no WebSocket, with 400: a WebSocket needs chat.upstream_url. Other
// requests go on to next.
func refuseEchoUpgrade(next gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !asksUpgrade(c.Request.Header) {
			next(c)
			return
		}
		if _, e := checkUpgrade(c.Request); e != nil {
			respondError(c, e)
			return
		}
		respondError(c, invalidRequest("the built-in echo backend takes no WebSocket connections; they are proxied when chat.upstream_url is set"))
	}
}
