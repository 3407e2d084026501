package server

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jwtgate/jwtgate/internal/benchcpu"
)

// The benchmarks come in pairs, the same requests sent straight to a loopback
// upstream (Direct) and through the chat proxy to it (Proxy), so that one run
//
//	go test -run '^$' -bench 'Proxy|Direct' -benchmem ./pkg/server
//
// gives what the proxy adds: compare ns/op (and ns/first-event for streams)
// of each pair. Both sides run in this process, so allocations include the
// client's and the upstream's; the difference is the proxy's.

const (
	benchRequestBody = `{"model":"gpt-test","messages":[{"role":"user","content":"Hello"}]}`
	benchJSON        = `{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-test",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello there."},"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}`
	benchEvent = "data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]}\n\n"
	benchDone  = "data: [DONE]\n\n"
)

// newBenchUpstream is a chat backend that answers /v1/chat/completions with a
// small JSON body, or with two server-sent events when the path ends in /stream.
func newBenchUpstream(b *testing.B) *httptest.Server {
	b.Helper()
	return newUpstream(b, func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		if strings.HasSuffix(r.URL.Path, "/stream") {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, benchEvent)
			http.NewResponseController(w).Flush()
			io.WriteString(w, benchDone)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, benchJSON)
	})
}

// newBenchProxy puts the chat proxy in front of up, as /chat -> up/v1.
func newBenchProxy(b *testing.B, up *httptest.Server) *httptest.Server {
	b.Helper()
	front, _ := newTestFront(b, testChatConfig(mustParseURL(b, up.URL+"/v1")))
	return front
}

func newBenchClient(b *testing.B) *http.Client {
	b.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func newBenchRequest(b *testing.B, target string) *http.Request {
	b.Helper()
	req := newChatRequest(b, b.Context(), http.MethodPost, target, strings.NewReader(benchRequestBody))
	req.Header.Set("Content-Type", "application/json")
	return req
}

// benchmarkJSON posts a chat request to target and reads the whole answer.
func benchmarkJSON(b *testing.B, target string) {
	client := newBenchClient(b)
	b.ReportAllocs()
	defer benchcpu.Start(b).Report()
	for b.Loop() {
		resp, err := client.Do(newBenchRequest(b, target))
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || n != int64(len(benchJSON)) {
			b.Fatalf("response %d, %d bytes, %v", resp.StatusCode, n, err)
		}
	}
}

// benchmarkStream posts a streaming chat request to target, reads both events,
// and reports the mean time from sending the request to reading the first.
func benchmarkStream(b *testing.B, target string) {
	client := newBenchClient(b)
	b.ReportAllocs()
	var toFirst time.Duration
	defer benchcpu.Start(b).Report()
	for b.Loop() {
		start := time.Now()
		resp, err := client.Do(newBenchRequest(b, target))
		if err != nil {
			b.Fatal(err)
		}
		r := bufio.NewReader(resp.Body)
		line, err := r.ReadString('\n')
		toFirst += time.Since(start)
		if err != nil || line != benchEvent[:len(benchEvent)-1] {
			b.Fatalf("first event: %q, %v", line, err)
		}
		rest, err := io.ReadAll(r)
		resp.Body.Close()
		if err != nil || string(rest) != "\n"+benchDone {
			b.Fatalf("rest of the stream: %q, %v", rest, err)
		}
	}
	b.ReportMetric(float64(toFirst.Nanoseconds())/float64(b.N), "ns/first-event")
}

func BenchmarkDirectJSON(b *testing.B) {
	up := newBenchUpstream(b)
	benchmarkJSON(b, up.URL+"/v1/chat/completions")
}

func BenchmarkProxyJSON(b *testing.B) {
	front := newBenchProxy(b, newBenchUpstream(b))
	benchmarkJSON(b, front.URL+"/chat/chat/completions")
}

func BenchmarkDirectStream(b *testing.B) {
	up := newBenchUpstream(b)
	benchmarkStream(b, up.URL+"/v1/chat/completions/stream")
}

func BenchmarkProxyStream(b *testing.B) {
	front := newBenchProxy(b, newBenchUpstream(b))
	benchmarkStream(b, front.URL+"/chat/chat/completions/stream")
}

// largeBodySize is the size of the large non-streamed answer of
// BenchmarkProxyLargeBody: what the copy buffer's size shows in, if anywhere.
const largeBodySize = 1 << 20

// newLargeBodyUpstream answers every request with largeBodySize bytes and a
// Content-Length, written at once.
func newLargeBodyUpstream(b *testing.B) *httptest.Server {
	b.Helper()
	body := []byte(strings.Repeat("x", largeBodySize))
	return newUpstream(b, func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
}

// benchmarkLargeBody posts a chat request to target and reads the whole large
// answer; throughput is reported as MB/s of answer.
func benchmarkLargeBody(b *testing.B, target string) {
	client := newBenchClient(b)
	buf := make([]byte, 64<<10)
	b.SetBytes(largeBodySize)
	b.ReportAllocs()
	defer benchcpu.Start(b).Report()
	for b.Loop() {
		resp, err := client.Do(newBenchRequest(b, target))
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, resp.Body, buf)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || n != largeBodySize {
			b.Fatalf("response %d, %d bytes, %v", resp.StatusCode, n, err)
		}
	}
}

func BenchmarkDirectLargeBody(b *testing.B) {
	up := newLargeBodyUpstream(b)
	benchmarkLargeBody(b, up.URL+"/v1/chat/completions")
}

func BenchmarkProxyLargeBody(b *testing.B) {
	front := newBenchProxy(b, newLargeBodyUpstream(b))
	benchmarkLargeBody(b, front.URL+"/chat/chat/completions")
}

// BenchmarkProxyCopyBuffer forwards the large non-streamed answer of
// BenchmarkProxyLargeBody through proxies whose only difference is the size of
// the buffers that carry response bodies (`benchstat -col /buf`): the buffer
// is held for as long as a response streams, so its size is memory per open
// stream.
func BenchmarkProxyCopyBuffer(b *testing.B) {
	up := newLargeBodyUpstream(b)
	gin.SetMode(gin.TestMode)
	for _, size := range []int{4 << 10, 8 << 10, 16 << 10, 32 << 10} {
		b.Run(fmt.Sprintf("buf=%dKiB", size>>10), func(b *testing.B) {
			p, err := buildChatProxy(testChatConfig(mustParseURL(b, up.URL+"/v1")), nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			p.rp.BufferPool = newBufferPool(size)
			r := gin.New()
			r.Use(testClaims)
			r.Any("/chat/*path", p.handle)
			front := httptest.NewServer(r)
			b.Cleanup(front.Close)
			benchmarkLargeBody(b, front.URL+"/chat/chat/completions")
		})
	}
}
