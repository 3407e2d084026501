package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json"
)

// sseStream writes one streamed echo reply as server-sent events: an optional
// "event:" line (the Responses and Messages streams name each event; chat
// completions do not), one "data:" line, a blank line, flushed at once. After the
// first failure, or once the stream's context ends, it writes nothing more.
type sseStream struct {
	ctx      context.Context // the request's, bounded by chat.max_stream_duration
	w        gin.ResponseWriter
	deadline writeDeadline
	delay    time.Duration
	timer    *time.Timer
	buf      []byte
	err      error // the first write failure
}

// stream starts a server-sent-events answer and hands it to write, which
// reports whether it wrote the whole stream. A stream that chat.max_stream_duration
// cut short is aborted (http.ErrAbortHandler, as the reverse proxy does), so the
// client sees a broken response rather than a finished one; one whose client
// stopped reading for chat.idle_timeout has failed to write and just ends. Both
// are logged; a client that went away is not.
func (e *echoBackend) stream(c *gin.Context, write func(s *sseStream) bool) {
	ctx := c.Request.Context()
	if e.maxStream > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, e.maxStream, errMaxStreamDuration)
		defer cancel()
	}
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // keep reverse proxies in front from buffering
	c.Writer.WriteHeader(http.StatusOK)

	s := &sseStream{ctx: ctx, w: c.Writer, deadline: newWriteDeadline(c.Writer, e.idle), delay: e.delay}
	defer s.close()
	if write(s) {
		return
	}
	// The echo itself never idles: an idle timeout here is a client that stopped
	// reading, named as the proxy names it.
	var ending string
	switch {
	case errors.Is(context.Cause(ctx), errMaxStreamDuration):
		ending = endingMaxStreamDuration
	case errors.Is(s.err, os.ErrDeadlineExceeded):
		ending = endingClientIdleTimeout
	default:
		setEnding(ctx, endingClientGone)
		return
	}
	setEnding(ctx, ending)
	e.logger.LogAttrs(ctx, slog.LevelInfo, "chat echo stream ended by jwtgate",
		slog.String("reason", ending), slog.String("path", c.Param("path")))
	if ending == endingMaxStreamDuration {
		panic(http.ErrAbortHandler)
	}
}

// send writes v as the data of one event named event ("" for none).
func (s *sseStream) send(event string, v any) bool {
	b, err := json.Marshal(v)
	if err != nil { // the values are plain structs of strings and numbers
		s.err = err
		return false
	}
	return s.write(event, b)
}

// write writes one event with data, already JSON (or chat's "[DONE]").
func (s *sseStream) write(event string, data []byte) bool {
	if s.err != nil || s.ctx.Err() != nil {
		return false
	}
	b := s.buf[:0]
	if event != "" {
		b = append(b, "event: "...)
		b = append(b, event...)
		b = append(b, '\n')
	}
	b = append(b, "data: "...)
	b = append(b, data...)
	b = append(b, "\n\n"...)
	s.buf = b
	s.deadline.renew()
	if _, err := s.w.Write(b); err != nil {
		s.err = err
		return false
	}
	if err := flushWriter(s.w); err != nil {
		s.err = err
		return false
	}
	return true
}

// pause waits chat.echo_delay before the next word. It returns false at once
// when the stream's context ends: the client went away or the stream ran out
// of time.
func (s *sseStream) pause() bool {
	if s.delay <= 0 {
		return s.ctx.Err() == nil
	}
	if s.timer == nil {
		s.timer = time.NewTimer(s.delay)
	} else {
		s.timer.Reset(s.delay)
	}
	select {
	case <-s.ctx.Done():
		s.timer.Stop()
		return false
	case <-s.timer.C:
		return true
	}
}

func (s *sseStream) close() {
	if s.timer != nil {
		s.timer.Stop()
	}
}

// flushWriter flushes w and reports the failure of the write underneath, which
// gin's Flush drops: a client that stopped reading is noticed at the event that
// could not be delivered, not at the next one.
func flushWriter(w http.ResponseWriter) error {
	for {
		switch t := w.(type) {
		case interface{ FlushError() error }:
			return t.FlushError()
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		case http.Flusher:
			t.Flush()
			return nil
		default:
			return nil // nothing to flush: the write went through already
		}
	}
}

// writeDeadline bounds each write to the client by idle. The server has no
// WriteTimeout (chat answers stream for long), so without it a client that stops
// reading would hold the handler for as long as the echo has words to send.
// net/http clears the deadline once the handler returns, so it never reaches the
// next request on a kept-alive connection.
type writeDeadline struct {
	rc   *http.ResponseController
	idle time.Duration // zero: no deadline
}

func newWriteDeadline(w http.ResponseWriter, idle time.Duration) writeDeadline {
	return writeDeadline{rc: http.NewResponseController(w), idle: idle}
}

// renew gives the next write idle from now. A writer without deadlines (a test
// recorder) is written to without one.
func (d writeDeadline) renew() {
	if d.idle > 0 {
		_ = d.rc.SetWriteDeadline(time.Now().Add(d.idle))
	}
}
