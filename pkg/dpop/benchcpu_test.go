package dpop

import (
	"syscall"
	"testing"
	"time"
)

// cpuMeter measures the process's CPU time (user and system, every goroutine and
// the garbage collector's) over a benchmark's loop, less what it spends paused,
// and reports it per iteration as cpu-ns/op. On a shared machine the wall time of
// an iteration includes waiting for a core another process holds; the CPU time
// does not, so it compares a few microseconds on a 100 µs operation far more
// steadily.
type cpuMeter struct {
	b      *testing.B
	start  time.Duration
	paused time.Duration
	pause  time.Duration
}

func startCPU(b *testing.B) *cpuMeter {
	b.Helper()
	return &cpuMeter{b: b, start: processCPU()}
}

// stop and resume bracket work done off the clock (with b.StopTimer and
// b.StartTimer), which the figure leaves out.
func (m *cpuMeter) stop()   { m.b.StopTimer(); m.pause = processCPU() }
func (m *cpuMeter) resume() { m.paused += processCPU() - m.pause; m.b.StartTimer() }

// report reports the CPU time per iteration; call it after the loop.
func (m *cpuMeter) report() {
	if m.b.N > 0 {
		m.b.ReportMetric(float64((processCPU()-m.start-m.paused).Nanoseconds())/float64(m.b.N), "cpu-ns/op")
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
