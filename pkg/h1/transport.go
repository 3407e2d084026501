package h1

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Defaults of [Config]'s zero values.
const (
	// DefaultMaxIdleConnsPerHost is the number of idle connections kept per
	// host:port.
	DefaultMaxIdleConnsPerHost = 64
	// DefaultIdleConnTimeout is how long an idle connection is kept, as
	// http.DefaultTransport keeps them.
	DefaultIdleConnTimeout = 90 * time.Second
	// DefaultMaxResponseHeaderBytes is the limit on response header bytes,
	// net/http's Transport default (10 MiB).
	DefaultMaxResponseHeaderBytes = 10 << 20
	// DefaultMaxInlineBody is the largest request body, of a known length,
	// that [Transport] writes itself; it is written before the response is
	// read, so it should fit in the socket's buffers.
	DefaultMaxInlineBody = 16 << 10
)

// bufferSize is the size of a connection's reader and of the pooled writers,
// net/http's Transport default.
const bufferSize = 4 << 10

// Config holds a [Transport]'s settings. The zero value of each field means its
// default.
type Config struct {
	// DialTimeout bounds connecting to the upstream. Zero: no limit but the
	// request's context.
	DialTimeout time.Duration
	// KeepAlive is the TCP keep-alive period of the connections. Zero: the
	// net package's default (15 s); negative: off.
	KeepAlive time.Duration
	// ResponseHeaderTimeout bounds the wait for the response headers once
	// the request was written. Zero: no limit but the request's context.
	ResponseHeaderTimeout time.Duration
	// MaxIdleConnsPerHost is the number of idle connections kept per
	// host:port. Zero: [DefaultMaxIdleConnsPerHost].
	MaxIdleConnsPerHost int
	// IdleConnTimeout is how long an idle connection is kept before it is
	// closed. Zero: [DefaultIdleConnTimeout].
	IdleConnTimeout time.Duration
	// MaxResponseHeaderBytes limits the bytes of a response's headers,
	// 1xx responses included unless the request's httptrace.ClientTrace
	// reads them. Zero: [DefaultMaxResponseHeaderBytes].
	MaxResponseHeaderBytes int64
	// MaxInlineBody is the largest request body that the transport writes
	// itself; larger ones go to Fallback. Zero: [DefaultMaxInlineBody].
	MaxInlineBody int64
	// Fallback carries the requests that [Transport] does not: schemes other
	// than http, upgrades, Expect: 100-continue, bodies of unknown length
	// or larger than MaxInlineBody, explicit Transfer-Encoding. Nil:
	// http.DefaultTransport.
	Fallback http.RoundTripper
}

// Transport is an [http.RoundTripper] for HTTP/1.1 over plain TCP, safe for
// concurrent use. Build it with [New]. It never asks for compression: bodies
// pass as the server encoded them.
type Transport struct {
	dialer         net.Dialer
	headerTimeout  time.Duration
	maxIdle        int
	idleTimeout    time.Duration
	maxHeaderBytes int64
	maxInlineBody  int64
	fallback       http.RoundTripper
	// writers lends the buffered writers requests are written with, only
	// while one is written: an open stream holds none.
	writers sync.Pool

	mu   sync.Mutex
	idle map[string][]*conn // per host:port, the most recently used last
}

// New returns a Transport with cfg's settings.
func New(cfg Config) *Transport {
	t := &Transport{
		dialer:         net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: cfg.KeepAlive},
		headerTimeout:  cfg.ResponseHeaderTimeout,
		maxIdle:        cfg.MaxIdleConnsPerHost,
		idleTimeout:    cfg.IdleConnTimeout,
		maxHeaderBytes: cfg.MaxResponseHeaderBytes,
		maxInlineBody:  cfg.MaxInlineBody,
		fallback:       cfg.Fallback,
		idle:           make(map[string][]*conn),
	}
	t.writers.New = func() any { return bufio.NewWriterSize(nil, bufferSize) }
	if t.maxIdle == 0 {
		t.maxIdle = DefaultMaxIdleConnsPerHost
	}
	if t.idleTimeout == 0 {
		t.idleTimeout = DefaultIdleConnTimeout
	}
	if t.maxHeaderBytes == 0 {
		t.maxHeaderBytes = DefaultMaxResponseHeaderBytes
	}
	if t.maxInlineBody == 0 {
		t.maxInlineBody = DefaultMaxInlineBody
	}
	if t.fallback == nil {
		t.fallback = http.DefaultTransport
	}
	return t
}

// RoundTrip implements [http.RoundTripper]. Requests the transport does not
// carry itself go to the fallback unchanged.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.carries(req) {
		return t.fallback.RoundTrip(req)
	}
	return t.roundTrip(req)
}

// CloseIdleConnections closes the idle connections, the fallback's too when it
// has such a method.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = make(map[string][]*conn)
	for _, list := range idle {
		for _, c := range list {
			c.idle = false
		}
	}
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.close()
		}
	}
	if f, ok := t.fallback.(interface{ CloseIdleConnections() }); ok {
		f.CloseIdleConnections()
	}
}

// carries reports whether t sends req itself rather than the fallback. What
// the fallback refuses (no URL, no header map) it refuses there.
func (t *Transport) carries(req *http.Request) bool {
	switch {
	case req.URL == nil || req.Header == nil || req.URL.Scheme != "http":
		return false
	case req.Header.Get("Upgrade") != "" || httpguts.HeaderValuesContainsToken(req.Header["Connection"], "upgrade"):
		return false // a protocol switch hands the connection to the caller
	case httpguts.HeaderValuesContainsToken(req.Header["Expect"], "100-continue"):
		return false // the body waits for the server's word
	case len(req.TransferEncoding) > 0:
		return false
	case req.Body == nil || req.Body == http.NoBody:
		return true
	}
	// A body is written whole before the response is read: a long one the
	// fallback writes while it reads, so that a server may answer early.
	return req.ContentLength > 0 && req.ContentLength <= t.maxInlineBody
}
