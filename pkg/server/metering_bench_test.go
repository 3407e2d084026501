package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtgate/jwtgate/internal/benchcpu"
	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/pkg/meter"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// countedLimits counts every limit the meter knows, each far out of reach, so
// that every request is admitted, counted and charged.
const countedLimits = `{"limits":{"requests_per_minute":60000000,"tokens_per_minute":100000000000,"total_tokens":1000000000000,"concurrent_requests":1000}}`

// BenchmarkChatCounting drives the whole handler (bearer token from the cache,
// routing, metrics, logs at warn) on the proxied chat route to a loopback
// upstream that reports usage, with a 1 KiB body, for a session without
// limits (counting=off) and for one whose counted limits are kept in this
// process (counting=local) or in a redis-server on loopback (counting=redis):
// `benchstat -col /counting`. answer=json is a whole answer; answer=stream-N
// a stream of N content events, which for a counted session jwtgate asks for
// its usage chunk and strips it again, so that the allocations per request of
// stream-8 and stream-64 show what each event costs.
func BenchmarkChatCounting(b *testing.B) {
	servers, rs := newCountingBench(b)
	benchChatCounting(b, servers, rs)
}

// BenchmarkChatCountingParallel is BenchmarkChatCounting's whole answers with
// 16 requests in flight at once (b.RunParallel): the requests/s of a busy
// replica, where a Redis round trip of one request overlaps the work of
// others: `benchstat -col /counting`.
func BenchmarkChatCountingParallel(b *testing.B) {
	servers, rs := newCountingBench(b)
	for _, tc := range []struct {
		name, server, session string
	}{
		{"counting=off", "local", ""},
		{"counting=local", "local", countedLimits},
		{"counting=redis", "redis", countedLimits},
	} {
		ts := servers[tc.server]
		tok := ts.createSession(b, tc.session).AccessToken
		b.Run("answer=json/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			defer benchcpu.Start(b).Report()
			defer startRedisCPU(b, rs)()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodPost, "/chat/chat/completions", strings.NewReader(benchChatBody))
					req.Header.Set("Authorization", "Bearer "+tok)
					req.Header.Set("Content-Type", "application/json")
					rec := httptest.NewRecorder()
					ts.srv.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Errorf("status %d: %s", rec.Code, rec.Body)
						return
					}
				}
			})
		})
	}
	checkRedisReached(b, servers["redis"])
}

// newCountingBench starts the benchmarks' loopback upstream, a redis-server,
// and a server proxying to the upstream with local counters ("local") and one
// with counters in Redis ("redis").
func newCountingBench(b *testing.B) (map[string]*testServer, *redistest.Server) {
	// The upstream's answers are built once: what it allocates must not
	// blur what jwtgate does.
	streams := map[string][2][]byte{}
	for _, n := range []int{8, 64} {
		var plain, usage strings.Builder
		for range n {
			const ev = `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1751620473,"model":"gpt-test","choices":[{"index":0,"delta":{"content":" word"},"finish_reason":null}]`
			plain.WriteString(ev + "}\n\n")
			usage.WriteString(ev + `,"usage":null}` + "\n\n")
		}
		usage.WriteString(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1751620473,"model":"gpt-test","choices":[],"usage":{"prompt_tokens":250,"completion_tokens":64,"total_tokens":314}}` + "\n\n")
		plain.WriteString("data: [DONE]\n\n")
		usage.WriteString("data: [DONE]\n\n")
		streams[strconv.Itoa(n)] = [2][]byte{[]byte(plain.String()), []byte(usage.String())}
	}
	answer := []byte(`{"id":"chatcmpl-bench","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":250,"completion_tokens":1,"total_tokens":251}}`)
	includeUsage := []byte(`"include_usage":true`)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		st, ok := streams[r.URL.Query().Get("events")]
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.Write(answer)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		if bytes.Contains(body, includeUsage) {
			w.Write(st[1])
		} else {
			w.Write(st[0])
		}
	}))
	b.Cleanup(up.Close)
	u, err := url.Parse(up.URL + "/v1")
	if err != nil {
		b.Fatal(err)
	}
	rs := redistest.Start(b)
	servers := map[string]*testServer{}
	for _, c := range []string{"local", "redis"} {
		servers[c] = newTestServer(b, func(o *testOptions) {
			o.logLevel = slog.LevelWarn
			o.verifierOpts = append(o.verifierOpts, token.WithCache(token.DefaultCacheSize))
			o.cfg.Chat.UpstreamURL = u
			o.cfg.Chat.MaxBodyBytes = 1 << 20
			if c == "redis" {
				// Patient, so that a loaded machine's slow answer is no
				// fallback, which would fail the benchmark.
				o.meterOpts = append(o.meterOpts, meter.WithRedis(rs.URL()), meter.WithRedisTimeout(10*time.Second))
			}
		})
	}
	return servers, rs
}

// startRedisCPU begins measuring the CPU time of rs's redis-server (from its
// INFO cpu section); the function it returns reports it per iteration as
// redis-cpu-ns/op. Beside cpu-ns/op (this process), it is the rest of what a
// request costs where Redis shares the replica's cores.
func startRedisCPU(b *testing.B, rs *redistest.Server) func() {
	b.Helper()
	rc := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	start := redisCPU(b, rc)
	return func() {
		defer rc.Close()
		if b.N > 0 {
			b.ReportMetric(float64((redisCPU(b, rc)-start).Nanoseconds())/float64(b.N), "redis-cpu-ns/op")
		}
	}
}

// redisCPU is the user and system CPU time redis-server reports.
func redisCPU(b *testing.B, rc *redis.Client) time.Duration {
	b.Helper()
	info, err := rc.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || (k != "used_cpu_sys" && k != "used_cpu_user") {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			b.Fatal(err)
		}
		total += time.Duration(f * float64(time.Second))
	}
	return total
}

func benchChatCounting(b *testing.B, servers map[string]*testServer, rs *redistest.Server) {
	usageMember := []byte(`"usage"`)
	streamBody := strings.Replace(benchChatBody, `{"model":"gpt-test",`, `{"model":"gpt-test","stream":true,`, 1)
	for _, answer := range []struct {
		name, query, body string
	}{
		{"answer=json", "", benchChatBody},
		{"answer=stream-8", "?events=8", streamBody},
		{"answer=stream-64", "?events=64", streamBody},
	} {
		for _, tc := range []struct {
			name, server, session string
		}{
			{"counting=off", "local", ""},
			{"counting=local", "local", countedLimits},
			{"counting=redis", "redis", countedLimits},
		} {
			ts := servers[tc.server]
			tok := ts.createSession(b, tc.session).AccessToken
			b.Run(answer.name+"/"+tc.name, func(b *testing.B) {
				b.ReportAllocs()
				defer benchcpu.Start(b).Report()
				defer startRedisCPU(b, rs)()
				b.SetBytes(int64(len(answer.body)))
				// One body buffer for every response, so that the recorder's
				// growth does not count: it grows in more steps when the
				// stripped stream arrives in more pieces.
				out := bytes.NewBuffer(make([]byte, 0, 64<<10))
				for b.Loop() {
					req := httptest.NewRequest(http.MethodPost, "/chat/chat/completions"+answer.query, strings.NewReader(answer.body))
					req.Header.Set("Authorization", "Bearer "+tok)
					req.Header.Set("Content-Type", "application/json")
					rec := httptest.NewRecorder()
					out.Reset()
					rec.Body = out
					ts.srv.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK || (tc.session != "" && rec.Header().Get("X-Ratelimit-Remaining-Requests") == "") {
						b.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
					if answer.query != "" && bytes.Contains(rec.Body.Bytes(), usageMember) {
						b.Fatalf("the usage chunk reached the client: %s", rec.Body)
					}
				}
			})
		}
	}
	checkRedisReached(b, servers["redis"])
}

// checkRedisReached fails the benchmark if ts decided anything on local
// counters: its figures would not be Redis's.
func checkRedisReached(b *testing.B, ts *testServer) {
	b.Helper()
	fam, err := ts.registry.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range fam {
		if f.GetName() == "jwtgate_limits_local_decisions_total" && f.GetMetric()[0].GetCounter().GetValue() != 0 {
			b.Fatalf("%v requests were decided locally: Redis was not reached", f.GetMetric()[0].GetCounter().GetValue())
		}
	}
}
