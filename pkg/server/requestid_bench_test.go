package server

import "testing"

// BenchmarkRequestID generates request ids, on one goroutine and on all of
// them at once (parallel), where ids drawn from shared state would contend.
func BenchmarkRequestID(b *testing.B) {
	ids := newRequestIDs()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = ids.next()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = ids.next()
			}
		})
	})
}
