package server

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestIdleBodyFullWait checks the idle timer in a bubble, where time is exact:
// reads that begin at any point of the timer's period are each given the
// whole idle time, counted from their start, and the one the upstream leaves
// unanswered is ended exactly then; the timer does nothing once the body is
// closed.
func TestIdleBodyFullWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const idle = time.Minute
		pr, pw := io.Pipe()
		var fired atomic.Int32
		var body upstreamBody
		body.wrap(&chatProxy{}, &http.Response{Body: pr}, idle, func() {
			fired.Add(1)
			pw.CloseWithError(errIdleTimeout)
		})
		buf := make([]byte, 8)
		// Reads that the upstream answers just in time, begun at odd
		// moments of the timer's period.
		for _, gap := range []time.Duration{37 * time.Second, 0, 83 * time.Second, 5 * time.Second} {
			time.Sleep(gap)
			go func() {
				time.Sleep(idle - time.Second)
				io.WriteString(pw, "a")
			}()
			if n, err := body.Read(buf); err != nil || string(buf[:n]) != "a" {
				t.Fatalf("after a gap of %v: Read = %q, %v; want a", gap, buf[:n], err)
			}
		}
		time.Sleep(17 * time.Second)
		start := time.Now()
		if _, err := body.Read(buf); !errors.Is(err, errIdleTimeout) {
			t.Fatalf("Read = %v, want errIdleTimeout", err)
		}
		if waited := time.Since(start); waited != idle {
			t.Errorf("the silent upstream was given %v, want %v", waited, idle)
		}
		body.Close()
		time.Sleep(10 * idle)
		synctest.Wait()
		if n := fired.Load(); n != 1 {
			t.Errorf("idle timer fired %d times, want once", n)
		}
	})
}
