package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// The raw client speaks just enough HTTP/1.1 for a load run: it writes one
// prepared request per round trip on a kept-alive connection and reads the
// response (Content-Length, chunked, or until close). It costs the generator a
// fraction of what net/http's client does, so the generator's core is not the
// limit of the run. -client std switches back to net/http, for https and for
// cross-checking.

// Errors of the raw client's response parser.
var (
	errMalformedResponse = errors.New("malformed HTTP response")
	errHeaderTooLarge    = errors.New("response header too large")
)

const (
	rawBufSize    = 16 << 10
	rawMaxHeaders = 200
)

// buildRawRequest returns the bytes of the request o describes.
func buildRawRequest(o options) []byte {
	var b bytes.Buffer
	b.WriteString(o.method + " " + o.target.RequestURI() + " HTTP/1.1\r\n")
	host := o.target.Host
	if h := o.header.Get("Host"); h != "" {
		host = h
	}
	b.WriteString("Host: " + host + "\r\n")
	if o.header.Get("User-Agent") == "" {
		b.WriteString("User-Agent: jwtgate-loadgen\r\n")
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range o.header {
			if !yield(k) {
				return
			}
		}
	}) {
		if k == "Host" || k == "Content-Length" || k == "Connection" || k == "Transfer-Encoding" {
			continue
		}
		for _, v := range o.header[k] {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	if len(o.body) > 0 || o.method == http.MethodPost || o.method == http.MethodPut || o.method == http.MethodPatch {
		b.WriteString("Content-Length: " + strconv.Itoa(len(o.body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(o.body)
	return b.Bytes()
}

// rawConn is one worker's connection, redialed after an error or a close.
type rawConn struct {
	addr    string
	req     []byte
	head    bool // HEAD responses have no body
	timeout time.Duration
	dialer  *net.Dialer

	mu     sync.Mutex // guards conn against the cancel hook
	conn   net.Conn
	closed bool // the run ended: no more dials
	br     *bufio.Reader
}

func newRawConn(ctx context.Context, o options, dialer *net.Dialer) (*rawConn, func() bool) {
	c := &rawConn{
		addr:    o.target.Host,
		req:     buildRawRequest(o),
		head:    o.method == http.MethodHead,
		timeout: o.timeout,
		dialer:  dialer,
		br:      bufio.NewReaderSize(nil, rawBufSize),
	}
	if o.target.Port() == "" {
		c.addr = net.JoinHostPort(o.target.Hostname(), "80")
	}
	// Unblock a read in progress when the run ends.
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.closed = true
		if c.conn != nil {
			_ = c.conn.SetDeadline(time.Unix(1, 0))
		}
	})
	return c, stop
}

func (c *rawConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

func (c *rawConn) connect(ctx context.Context) error {
	conn, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = conn.Close()
		return context.Canceled
	}
	c.conn = conn
	c.br.Reset(conn)
	return nil
}

// roundTrip sends the request and reads the whole response. It returns when the
// first body byte arrived (with firstByte) and the status code.
func (c *rawConn) roundTrip(ctx context.Context, firstByte bool) (time.Time, int, error) {
	if c.conn == nil {
		if err := c.connect(ctx); err != nil {
			return time.Time{}, 0, fmt.Errorf("dialing: %w", err)
		}
	}
	first, status, keep, err := c.exchange(firstByte)
	if err != nil || !keep {
		c.close()
	}
	return first, status, err
}

func (c *rawConn) exchange(firstByte bool) (first time.Time, status int, keep bool, err error) {
	// Under the lock, so that the cancel hook's past deadline is never replaced.
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return first, 0, false, context.Canceled
	}
	err = c.conn.SetDeadline(time.Now().Add(c.timeout))
	c.mu.Unlock()
	if err != nil {
		return first, 0, false, err
	}
	if _, err := c.conn.Write(c.req); err != nil {
		return first, 0, false, fmt.Errorf("writing the request: %w", err)
	}

	line, err := c.line()
	if err != nil {
		return first, 0, false, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return first, 0, false, errMalformedResponse
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil || status < 100 {
		return first, 0, false, errMalformedResponse
	}
	keep = line[7] == '1'
	length, chunked := int64(-1), false
	for i := 0; ; i++ {
		if i == rawMaxHeaders {
			return first, 0, false, errHeaderTooLarge
		}
		h, err := c.line()
		if err != nil {
			return first, 0, false, err
		}
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return first, 0, false, errMalformedResponse
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return first, 0, false, errMalformedResponse
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
			if !chunked {
				return first, 0, false, errMalformedResponse
			}
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			}
		}
	}

	noBody := c.head || status == http.StatusNoContent || status == http.StatusNotModified || status < 200
	switch {
	case noBody:
		first = time.Now()
	case chunked:
		first, err = c.chunkedBody(firstByte)
	case length >= 0:
		first, err = c.fixedBody(length, firstByte)
	default:
		keep = false
		first, err = c.fixedBody(-1, firstByte)
	}
	if err != nil {
		return first, 0, false, err
	}
	return first, status, keep, nil
}

// line reads one CRLF-terminated line without its end.
func (c *rawConn) line() ([]byte, error) {
	l, err := c.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errHeaderTooLarge
	}
	if err != nil {
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	return bytes.TrimRight(l, "\r\n"), nil
}

// peekFirst waits for one body byte and returns when it arrived.
func (c *rawConn) peekFirst() (time.Time, error) {
	if _, err := c.br.Peek(1); err != nil {
		return time.Time{}, fmt.Errorf("reading the body: %w", err)
	}
	return time.Now(), nil
}

// fixedBody discards n body bytes, or everything up to EOF when n is -1.
func (c *rawConn) fixedBody(n int64, firstByte bool) (time.Time, error) {
	var first time.Time
	if n == 0 {
		return time.Now(), nil
	}
	if firstByte {
		f, err := c.peekFirst()
		if n < 0 && errors.Is(err, io.EOF) {
			return time.Now(), nil
		}
		if err != nil {
			return first, err
		}
		first = f
	}
	if n < 0 {
		if _, err := io.Copy(io.Discard, c.br); err != nil {
			return first, fmt.Errorf("reading the body: %w", err)
		}
		return first, nil
	}
	if _, err := c.br.Discard(int(n)); err != nil {
		return first, fmt.Errorf("reading the body: %w", err)
	}
	return first, nil
}

// chunkedBody discards a chunked body and its trailers.
func (c *rawConn) chunkedBody(firstByte bool) (time.Time, error) {
	var first time.Time
	for {
		l, err := c.line()
		if err != nil {
			return first, err
		}
		if i := bytes.IndexByte(l, ';'); i >= 0 {
			l = l[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(l)), 16, 64)
		if err != nil || size < 0 {
			return first, errMalformedResponse
		}
		if size == 0 {
			for {
				t, err := c.line()
				if err != nil {
					return first, err
				}
				if len(t) == 0 {
					if first.IsZero() {
						first = time.Now()
					}
					return first, nil
				}
			}
		}
		if first.IsZero() && firstByte {
			if first, err = c.peekFirst(); err != nil {
				return first, err
			}
		}
		if _, err := c.br.Discard(int(size)); err != nil {
			return first, fmt.Errorf("reading the body: %w", err)
		}
		if crlf, err := c.line(); err != nil || len(crlf) != 0 {
			return first, errMalformedResponse
		}
	}
}
