package h1

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

// okResponse is the answer of a rawServer to every request but the first.
const okResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// rawServer is an HTTP/1.1 server on 127.0.0.1 that answers with raw bytes,
// malformed ones included. It reads each request with http.ReadRequest; the
// first request it reads, over all connections, is answered by first, every
// other with okResponse.
type rawServer struct {
	ln       net.Listener
	first    func(c net.Conn, req *http.Request)
	accepts  atomic.Int32
	requests atomic.Int32
	bytes    atomic.Int64  // bytes read from clients
	closed   chan struct{} // a client closed a connection (never blocks: buffered)
	wg       sync.WaitGroup
}

// newRawServer starts a rawServer; it stops when the test ends.
func newRawServer(t *testing.T, first func(c net.Conn, req *http.Request)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, first: first, closed: make(chan struct{}, 64)}
	var conns sync.Map
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepts.Add(1)
			conns.Store(c, true)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		conns.Range(func(k, _ any) bool {
			_ = k.(net.Conn).Close()
			return true
		})
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) serve(c net.Conn) {
	defer func() { _ = c.Close() }()
	br := bufio.NewReader(countReader{c, &s.bytes})
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			if err == io.EOF {
				s.closed <- struct{}{}
			}
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		if s.requests.Add(1) == 1 {
			s.first(c, req)
			continue
		}
		if _, err := io.WriteString(c, okResponse); err != nil {
			return
		}
	}
}

// url is the server's base URL.
func (s *rawServer) url() string { return "http://" + s.ln.Addr().String() }

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// send returns a first-request handler that writes raw and leaves the
// connection open.
func send(raw string) func(net.Conn, *http.Request) {
	return func(c net.Conn, _ *http.Request) { _, _ = io.WriteString(c, raw) }
}

// sendAndClose returns a first-request handler that writes raw, then closes the
// connection.
func sendAndClose(raw string) func(net.Conn, *http.Request) {
	return func(c net.Conn, _ *http.Request) {
		_, _ = io.WriteString(c, raw)
		_ = c.Close()
	}
}
