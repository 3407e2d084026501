package h1

import (
	"bufio"
	"io"
	"net/http"
	"runtime"
	"testing"
)

// BenchmarkOpenStreams opens streams (a response body that stays open) and
// reports what each costs in memory, heap and goroutine stacks, and in
// goroutines, the loopback upstream's share included: it is the same for both
// transports, so the difference is theirs.
func BenchmarkOpenStreams(b *testing.B) {
	const n = 500
	for _, tt := range benchTransports() {
		b.Run(tt.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				stream := newStreamServerB(b)
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				g0 := runtime.NumGoroutine()
				b.StartTimer()
				bodies := make([]io.ReadCloser, 0, n)
				for range n {
					req, _ := http.NewRequest(http.MethodGet, stream, nil)
					resp, err := tt.rt.RoundTrip(req)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := bufio.NewReaderSize(resp.Body, 16).ReadByte(); err != nil {
						b.Fatal(err)
					}
					bodies = append(bodies, resp.Body)
				}
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&after)
				g1 := runtime.NumGoroutine()
				heap := float64(after.HeapInuse) - float64(before.HeapInuse)
				stack := float64(after.StackInuse) - float64(before.StackInuse)
				b.ReportMetric(heap/n, "heap-B/stream")
				b.ReportMetric(stack/n, "stack-B/stream")
				b.ReportMetric(float64(g1-g0)/n, "goroutines/stream")
				for _, body := range bodies {
					_ = body.Close()
				}
				b.StartTimer()
			}
		})
	}
}
