package main

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
)

// cannedServer answers every request on a loopback port with resp, then closes
// the connection when closeAfter is set.
func cannedServer(t *testing.T, resp string, closeAfter bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					req.Body.Close()
					if _, err := conn.Write([]byte(resp)); err != nil || closeAfter {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/x"
}

func TestRawClientResponses(t *testing.T) {
	tests := []struct {
		name       string
		resp       string
		closeAfter bool
		method     string
		wantStatus int // 0: an error is expected
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, "GET", 200},
		{"chunked with extension and trailer", "HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nX-Trailer: a\r\n\r\n", false, "GET", 201},
		{"read until close", "HTTP/1.0 200 OK\r\n\r\nuntil the end", true, "GET", 200},
		{"no content", "HTTP/1.1 204 No Content\r\n\r\n", false, "GET", 204},
		{"head", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", false, "HEAD", 200},
		{"not found", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", false, "GET", 404},
		{"garbage", "garbage\r\n\r\n", true, "GET", 0},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n", true, "GET", 0},
		{"header without colon", "HTTP/1.1 200 OK\r\nnocolon\r\n\r\n", true, "GET", 0},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", true, "GET", 0},
		{"unknown coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", true, "GET", 0},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", true, "GET", 0},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", true, "GET", 0},
		{"huge header", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", rawBufSize) + "\r\n\r\n", true, "GET", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags([]string{"-url", cannedServer(t, tc.resp, tc.closeAfter), "-method", tc.method})
			if err != nil {
				t.Fatal(err)
			}
			c, stop := newRawConn(t.Context(), o, newDialer())
			defer stop()
			defer c.close()
			// Twice: the second round trip reuses or redials the connection.
			for i := range 2 {
				_, status, err := c.roundTrip(t.Context(), true)
				if tc.wantStatus == 0 {
					if err == nil {
						t.Fatalf("round trip %d: status %d, want an error", i, status)
					}
					continue
				}
				if err != nil || status != tc.wantStatus {
					t.Fatalf("round trip %d: status %d, error %v; want %d", i, status, err, tc.wantStatus)
				}
			}
		})
	}
}

func TestBuildRawRequest(t *testing.T) {
	o, err := parseFlags([]string{"-url", "http://127.0.0.1:9/a/b?q=1", "-method", "post",
		"-header", "Authorization: Bearer t", "-header", "Host: example.test", "-header", "Content-Length: 99",
		"-body", "{}"})
	if err != nil {
		t.Fatal(err)
	}
	want := "POST /a/b?q=1 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: jwtgate-loadgen\r\n" +
		"Authorization: Bearer t\r\nContent-Length: 2\r\n\r\n{}"
	if got := string(buildRawRequest(o)); got != want {
		t.Errorf("request =\n%q\nwant\n%q", got, want)
	}
	// net/http must read it as the same request.
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(want)))
	if err != nil || req.Method != "POST" || req.Host != "example.test" || req.ContentLength != 2 {
		t.Errorf("ReadRequest: %v, %+v", err, req)
	}
}
