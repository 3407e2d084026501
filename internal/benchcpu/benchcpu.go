// Package benchcpu reports a benchmark's CPU time per iteration, as cpu-ns/op.
//
// On a shared machine the wall time of an iteration includes waiting for a
// core that another process holds; the process's CPU time (user and system,
// every goroutine and the garbage collector's) does not, so it compares a few
// microseconds on a 100 µs operation far more steadily. Benchmarks of several
// packages use it; it is for tests only.
package benchcpu

import (
	"syscall"
	"testing"
	"time"
)

// Meter measures the process's CPU time over a benchmark's loop, less what is
// spent between [Meter.Stop] and [Meter.Resume].
type Meter struct {
	b      *testing.B
	start  time.Duration
	paused time.Duration
	pause  time.Duration
}

// Start begins measuring for b.
func Start(b *testing.B) *Meter {
	b.Helper()
	return &Meter{b: b, start: Process()}
}

// Stop stops b's timer and the meter, for work done off the clock.
func (m *Meter) Stop() {
	m.b.StopTimer()
	m.pause = Process()
}

// Resume starts the meter and b's timer again after [Meter.Stop].
func (m *Meter) Resume() {
	m.paused += Process() - m.pause
	m.b.StartTimer()
}

// Report reports the CPU time per iteration as cpu-ns/op; call it after the
// loop.
func (m *Meter) Report() {
	if m.b.N > 0 {
		m.b.ReportMetric(float64((Process()-m.start-m.paused).Nanoseconds())/float64(m.b.N), "cpu-ns/op")
	}
}

// Process returns the CPU time the process has used so far, user and system,
// or 0 when the system does not say.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
