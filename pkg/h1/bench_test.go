package h1

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/internal/benchcpu"
)

// benchResponse is a small chat completion's answer, as the upstream sends it.
var benchResponse = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 249\r\n\r\n" + strings.Repeat("x", 249)

// newBenchUpstream answers every request with benchResponse, reading a request
// as its header lines up to the blank one (the benchmark's requests have no
// body): the cheapest server, so that the client's cost stands out.
func newBenchUpstream(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				br := bufio.NewReader(c)
				for {
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := io.WriteString(c, benchResponse); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/v1/chat/completions"
}

// benchTransports are the two transports compared, with the proxy's settings.
func benchTransports() []struct {
	name string
	rt   http.RoundTripper
} {
	nt := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: DefaultMaxIdleConnsPerHost}
	return []struct {
		name string
		rt   http.RoundTripper
	}{
		{"transport=net-http", nt},
		{"transport=h1", New(Config{Fallback: nt})},
	}
}

// BenchmarkRoundTrip is one request and its whole answer at a time; cpu-ns/op
// is the process's CPU time (client and upstream) per request.
func BenchmarkRoundTrip(b *testing.B) {
	url := newBenchUpstream(b)
	for _, tt := range benchTransports() {
		b.Run(tt.name, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("Authorization", "Bearer sk-bench")
			roundTrip(b, tt.rt, req)
			b.ReportAllocs()
			b.ResetTimer()
			stop := benchcpu.Start(b).Report
			for range b.N {
				roundTrip(b, tt.rt, req)
			}
			stop()
		})
	}
}

// BenchmarkRoundTripParallel is BenchmarkRoundTrip from GOMAXPROCS
// goroutines at once.
func BenchmarkRoundTripParallel(b *testing.B) {
	url := newBenchUpstream(b)
	for _, tt := range benchTransports() {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			stop := benchcpu.Start(b).Report
			b.RunParallel(func(pb *testing.PB) {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Authorization", "Bearer sk-bench")
				for pb.Next() {
					roundTrip(b, tt.rt, req)
				}
			})
			stop()
		})
	}
}

func roundTrip(b *testing.B, rt http.RoundTripper, req *http.Request) {
	resp, err := rt.RoundTrip(req)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if err != nil || n != 249 {
		b.Fatalf("read %d bytes: %v", n, err)
	}
}
