package server

import (
	"syscall"
	"testing"
	"time"
)

// startCPU begins measuring the process's CPU time (user and system, every
// goroutine: the client's, the proxy's and the upstream's in these
// benchmarks); the function it returns reports it per iteration as cpu-ns/op.
// On a shared machine the wall time of an iteration includes waiting for a
// core that another process holds; the CPU time does not, so it compares
// changes far more steadily.
func startCPU(b *testing.B) func() {
	b.Helper()
	start := processCPU()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64((processCPU()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
