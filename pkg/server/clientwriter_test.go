package server

import (
	"errors"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// deadlineWriter is a response writer that keeps the write deadlines set on
// it and fails writes with writeErr.
type deadlineWriter struct {
	header      http.Header
	status      int
	written     int
	writeErr    error
	deadlines   []time.Time
	attempts    int  // SetWriteDeadline calls, refused ones included
	noDeadlines bool // refuse deadlines, as a test recorder does
}

func newDeadlineWriter() *deadlineWriter { return &deadlineWriter{header: http.Header{}} }

func (w *deadlineWriter) Header() http.Header  { return w.header }
func (w *deadlineWriter) WriteHeader(code int) { w.status = code }

func (w *deadlineWriter) Write(p []byte) (int, error) {
	if w.writeErr != nil {
		return 0, w.writeErr
	}
	w.written += len(p)
	return len(p), nil
}

func (w *deadlineWriter) SetWriteDeadline(t time.Time) error {
	w.attempts++
	if w.noDeadlines {
		return http.ErrNotSupported
	}
	w.deadlines = append(w.deadlines, t)
	return nil
}

// TestClientWriterDeadlines runs in a bubble: each write gets chat.idle_timeout
// from its start, never past the stream's end, and the end is set once.
func TestClientWriterDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newDeadlineWriter()
		start := time.Now()
		end := start.Add(90 * time.Second)
		var cw clientWriter
		cw.init(w, time.Minute, end)
		cw.answered()

		cw.Write([]byte("a"))
		time.Sleep(45 * time.Second)
		cw.Write([]byte("b")) // 45 s + 60 s is past the end
		time.Sleep(10 * time.Second)
		cw.Write([]byte("c")) // the end is in force already

		want := []time.Time{start.Add(time.Minute), end}
		if len(w.deadlines) != len(want) {
			t.Fatalf("deadlines = %v, want %v", w.deadlines, want)
		}
		for i := range want {
			if !w.deadlines[i].Equal(want[i]) {
				t.Errorf("deadline %d = %v, want %v", i, w.deadlines[i], want[i])
			}
		}
		if !cw.atEnd || w.written != 3 {
			t.Errorf("atEnd = %v, written %d; want the end in force and 3 bytes", cw.atEnd, w.written)
		}
	})
}

func TestClientWriterIdleOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newDeadlineWriter()
		var cw clientWriter
		cw.init(w, time.Minute, time.Time{})
		cw.answered()
		for range 3 {
			cw.Write([]byte("x"))
			time.Sleep(time.Hour) // an upstream that takes its time: no limit on the client side
		}
		if len(w.deadlines) != 3 {
			t.Fatalf("deadlines = %v, want one per write", w.deadlines)
		}
		for i, d := range w.deadlines {
			if want := time.Now().Add(-time.Duration(3-i)*time.Hour + time.Minute); !d.Equal(want) {
				t.Errorf("deadline %d = %v, want %v (a minute after the write)", i, d, want)
			}
		}
	})
}

func TestClientWriterNoLimits(t *testing.T) {
	w := newDeadlineWriter()
	var cw clientWriter
	cw.init(w, 0, time.Time{})
	cw.answered()
	cw.Write([]byte("x"))
	if w.attempts != 0 || w.written != 1 {
		t.Errorf("%d deadlines set, %d bytes written; want none and 1", w.attempts, w.written)
	}
}

// A writer without deadlines (httptest.ResponseRecorder) is written to
// without them, and not asked again.
func TestClientWriterDeadlinesNotSupported(t *testing.T) {
	w := newDeadlineWriter()
	w.noDeadlines = true
	var cw clientWriter
	cw.init(w, time.Minute, time.Time{})
	cw.answered()
	for range 3 {
		if _, err := cw.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if w.attempts != 1 || w.written != 3 {
		t.Errorf("%d deadline attempts, %d bytes; want 1 and 3", w.attempts, w.written)
	}
}

func TestClientWriterTimedOut(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		end      bool // the stream's end is the deadline in force
		timedOut bool
	}{
		{"deadline", &net.OpError{Op: "write", Net: "tcp", Err: os.ErrDeadlineExceeded}, false, true},
		{"deadline at the end", &net.OpError{Op: "write", Net: "tcp", Err: os.ErrDeadlineExceeded}, true, true},
		{"broken pipe", &net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}, false, false},
		{"connection reset", &net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNRESET}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newDeadlineWriter()
				w.writeErr = tt.err
				end := time.Now().Add(time.Hour)
				if tt.end {
					end = time.Now().Add(time.Second)
				}
				var cw clientWriter
				cw.init(w, time.Minute, end)
				cw.answered()
				if _, err := cw.Write([]byte("x")); !errors.Is(err, tt.err) {
					t.Fatalf("Write error = %v, want %v", err, tt.err)
				}
				if cw.timedOut() != tt.timedOut || cw.atEnd != tt.end {
					t.Errorf("timedOut = %v, atEnd = %v; want %v, %v", cw.timedOut(), cw.atEnd, tt.timedOut, tt.end)
				}
			})
		})
	}
}

// TestClientWriter1xx replays what ReverseProxy does with an upstream's 1xx
// while the round trip runs: copy its headers into the writer's map, write it,
// clear the map. jwtgate's own headers stay, and the 1xx is not passed on.
func TestClientWriter1xx(t *testing.T) {
	w := newDeadlineWriter()
	w.header.Set(RequestIDHeader, "jwtgate-id")
	w.header.Set("Access-Control-Allow-Origin", "https://app.example")
	var cw clientWriter
	cw.init(w, time.Minute, time.Time{})

	h := cw.Header()
	h.Add("Link", "</style.css>; rel=preload")
	h.Add("Set-Cookie", "early=1")
	h.Add(RequestIDHeader, "upstream-id")
	cw.WriteHeader(http.StatusEarlyHints)
	clear(h)

	cw.answered()
	if w.status != 0 {
		t.Errorf("status %d was passed on", w.status)
	}
	if got := cw.Header().Values(RequestIDHeader); len(got) != 1 || got[0] != "jwtgate-id" {
		t.Errorf("X-Request-Id = %q, want [jwtgate-id]", got)
	}
	if got := cw.Header().Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("Access-Control-Allow-Origin = %q", got)
	}
	if cw.Header().Get("Set-Cookie") != "" || cw.Header().Get("Link") != "" {
		t.Errorf("the 1xx's headers reached the response: %v", cw.Header())
	}
	cw.WriteHeader(http.StatusOK)
	if w.status != http.StatusOK {
		t.Errorf("final status = %d, want 200", w.status)
	}
}

// failed lifts the stream's end: jwtgate's own answer to an upstream that did
// not answer in time is written after the end.
func TestClientWriterFailedAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newDeadlineWriter()
		var cw clientWriter
		cw.init(w, time.Minute, time.Now().Add(time.Second))
		time.Sleep(2 * time.Second) // the stream deadline passes before any answer
		cw.failed()
		cw.Write([]byte("{}"))
		if len(w.deadlines) != 1 || !w.deadlines[0].Equal(time.Now().Add(time.Minute)) {
			t.Errorf("deadlines = %v, want one a minute from now", w.deadlines)
		}
	})
}

// TestClientWriterRenewSlack runs in a bubble: writes that start within an
// eighth of chat.idle_timeout of the deadline's renewal keep it, later ones
// renew it, and every write has between 7/8 of chat.idle_timeout and all of it
// before its deadline.
func TestClientWriterRenewSlack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const idle = 80 * time.Second // an eighth: 10 s
		w := newDeadlineWriter()
		start := time.Now()
		var cw clientWriter
		cw.init(w, idle, time.Time{})
		cw.answered()
		for _, at := range []time.Duration{0, 3 * time.Second, 9 * time.Second, 10 * time.Second, 19 * time.Second, 31 * time.Second} {
			time.Sleep(time.Until(start.Add(at)))
			cw.Write([]byte("x"))
			left := time.Until(w.deadlines[len(w.deadlines)-1])
			if left < idle*7/8 || left > idle {
				t.Errorf("write at %v: deadline %v ahead, want between %v and %v", at, left, idle*7/8, idle)
			}
		}
		want := []time.Time{start.Add(idle), start.Add(10*time.Second + idle), start.Add(31*time.Second + idle)}
		if len(w.deadlines) != len(want) {
			t.Fatalf("deadlines = %v, want %v", w.deadlines, want)
		}
		for i := range want {
			if !w.deadlines[i].Equal(want[i]) {
				t.Errorf("deadline %d = %v, want %v", i, w.deadlines[i], want[i])
			}
		}
	})
}
