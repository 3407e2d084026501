package server

import (
	"net/http"
	"time"
)

// clientWriter is the response writer the reverse proxy writes to, in front of
// gin's. It does three things gin's writer does not:
//
//   - It bounds every write to the client (http.ResponseController's write
//     deadline) and never past the stream's end at chat.max_stream_duration.
//     The deadline is set to chat.idle_timeout from a write's start, and kept
//     for the writes that start within the next eighth of it (renewSlack), so
//     that a stream of many small events does not reset a timer in the
//     runtime for each: a write that makes no progress is cut no sooner than
//     7/8 of chat.idle_timeout after it began and no later than
//     chat.idle_timeout after it began (nor past the stream's end). The
//     upstream side is bounded by the idle timer and the context; without
//     this, a client that stops reading would hold the handler, its socket
//     and the send buffer for as long as it keeps the connection open.
//     net/http clears the deadline once the handler returns, so it never
//     reaches the next request on a kept-alive connection.
//   - It keeps the first write error and whether it ran into the deadline, for
//     [streamEnding].
//   - It keeps jwtgate's own response headers (X-Request-Id, CORS) through a
//     1xx answer of the upstream: ReverseProxy copies a 1xx's headers into the
//     writer's map, writes it, and then clears the map. While the round trip
//     runs, that hook is the only caller of Header, so it is given a scratch
//     map, and the 1xx itself is not passed on (gin's writer would not send it
//     either; it would take it for the final status).
//
// Flush, Hijack and the other optional methods are reached through Unwrap, as
// http.ResponseController does, except FlushError, which keeps the error gin's
// Flush drops.
type clientWriter struct {
	w    http.ResponseWriter
	rc   *http.ResponseController // nil: no deadline to set
	idle time.Duration            // zero: no idle limit on writes
	end  time.Time                // the stream's end; zero: none
	// deadline is the write deadline in force, and atEnd says it is end.
	// Until keep, a write starts under it without renewing it.
	deadline time.Time
	keep     time.Time
	atEnd    bool
	err      error // the first write or flush error
	// roundTrip is set until the upstream answers (modifyResponse) or the
	// round trip fails (handleError).
	roundTrip bool
	scratch   http.Header
	// flushed is set while the last Write went out whole and was flushed:
	// there is nothing left for FlushError.
	flushed bool
}

// init makes cw write to w with the limits of one stream.
func (cw *clientWriter) init(w http.ResponseWriter, idle time.Duration, end time.Time) {
	cw.w, cw.idle, cw.end, cw.roundTrip = w, idle, end, true
	if idle > 0 || !end.IsZero() {
		cw.rc = http.NewResponseController(w)
	}
}

// answered ends the round trip: from now on Header is the response's.
func (cw *clientWriter) answered() { cw.roundTrip = false }

// failed ends the round trip without an answer from the upstream. jwtgate's
// own error answer follows: a small body written once, bounded by the idle
// limit alone, since the stream's end may have passed already (an upstream
// that did not answer within chat.max_stream_duration).
func (cw *clientWriter) failed() {
	cw.roundTrip = false
	cw.end = time.Time{}
	cw.atEnd, cw.keep = false, time.Time{} // the end no longer applies: renew at the next write
}

// Header implements http.ResponseWriter.
func (cw *clientWriter) Header() http.Header {
	if cw.roundTrip {
		if cw.scratch == nil {
			cw.scratch = make(http.Header)
		}
		return cw.scratch
	}
	return cw.w.Header()
}

// WriteHeader implements http.ResponseWriter. Informational answers other
// than 101 are not passed on.
func (cw *clientWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		return
	}
	cw.w.WriteHeader(code)
}

// Write implements http.ResponseWriter. What is written is flushed at once, so
// that no part of a response waits in a buffer: not an event of a stream, and
// not a piece of a fixed-length body that the upstream sends as it goes.
// ReverseProxy flushes by itself only for event streams and bodies of unknown
// length; its FlushInterval -1 would flush the rest too, but at the price of a
// timer goroutine per response that writes the headers in a system call of
// their own.
func (cw *clientWriter) Write(p []byte) (int, error) {
	cw.renew()
	n, err := cw.w.Write(p)
	if err == nil {
		err = flushWriter(cw.w)
	}
	cw.flushed = err == nil // a failed write leaves FlushError to report it
	if err != nil && cw.err == nil {
		cw.err = err
	}
	return n, err
}

// FlushError flushes what was written to the client, under the same deadline
// as a write, and reports the failure of the write underneath. After a Write
// there is nothing left to flush: Write flushed it.
func (cw *clientWriter) FlushError() error {
	if cw.flushed {
		return nil
	}
	cw.renew()
	if g, ok := cw.w.(interface{ WriteHeaderNow() }); ok {
		g.WriteHeaderNow() // what gin's Flush does first: the status is gin's to write
	}
	err := flushWriter(cw.w)
	if err != nil && cw.err == nil {
		cw.err = err
	}
	return err
}

// Unwrap gives http.ResponseController the writer underneath.
func (cw *clientWriter) Unwrap() http.ResponseWriter { return cw.w }

// renewSlack is the part of chat.idle_timeout for which a write deadline, once
// set, is kept for the writes that follow (a divisor: an eighth). Renewing is
// a system-call-free but locked update of a runtime timer; a stream of events
// a few milliseconds apart would otherwise renew it for each.
const renewSlack = 8

// renew sets the write deadline for the next write: idle from now, or the
// stream's end when that comes first. A deadline set less than
// idle/renewSlack ago is kept: the write then has at least 7/8 of idle.
func (cw *clientWriter) renew() {
	if cw.rc == nil || cw.atEnd {
		return // no deadlines, or the stream's end is in force already
	}
	d, atEnd := cw.end, true
	if cw.idle > 0 {
		now := time.Now()
		if now.Before(cw.keep) {
			return
		}
		if next := now.Add(cw.idle); d.IsZero() || next.Before(d) {
			d, atEnd = next, false
			cw.keep = now.Add(cw.idle / renewSlack)
		}
	}
	if err := cw.rc.SetWriteDeadline(d); err != nil {
		cw.rc = nil // a writer without deadlines (a test recorder): write without
		return
	}
	cw.deadline, cw.atEnd = d, atEnd
}

// timedOut reports whether the first write error came from the write
// deadline: by its kind, or, for writers that report it otherwise (HTTP/2),
// by the time.
func (cw *clientWriter) timedOut() bool {
	if cw.err == nil {
		return false
	}
	return isDeadline(cw.err) || (!cw.deadline.IsZero() && !time.Now().Before(cw.deadline))
}
