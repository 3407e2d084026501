package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// Endings of a request whose response did not run to its end: the values of
// the access line's ending field and of the ending label of
// jwtgate_http_requests_interrupted_total. A response that ran to its end has
// no ending. The set is fixed, so the label stays bounded.
const (
	// endingClientGone: the client went away (closed the connection or reset
	// the stream) before the response was complete. The request is counted
	// and logged with status 499, as nginx does.
	endingClientGone = "client_gone"
	// endingIdleTimeout: jwtgate cut the stream because the upstream sent
	// nothing for chat.idle_timeout.
	endingIdleTimeout = "idle_timeout"
	// endingClientIdleTimeout: jwtgate cut the stream because the client read
	// nothing for chat.idle_timeout (a write to it made no progress).
	endingClientIdleTimeout = "client_idle_timeout"
	// endingMaxStreamDuration: jwtgate cut the stream at
	// chat.max_stream_duration, whichever side was slow.
	endingMaxStreamDuration = "max_stream_duration"
	// endingUpstreamError: the upstream's response broke off after its
	// headers (the connection closed or reset mid-body).
	endingUpstreamError = "upstream_error"
	// endingAborted: a handler aborted the response (http.ErrAbortHandler)
	// without naming why.
	endingAborted = "aborted"
)

// endings lists every ending, for pre-declaring the counter's series.
func endings() []string {
	return []string{endingClientGone, endingIdleTimeout, endingClientIdleTimeout,
		endingMaxStreamDuration, endingUpstreamError, endingAborted}
}

// statusClientClosedRequest is nginx's 499, the status a request is counted
// and logged with when its client went away before the response was complete.
// It is never sent: there is nobody to send it to.
const statusClientClosedRequest = 499

// setEnding notes for the access line how the request of ctx ended. Outside
// [observe] (a handler under test on its own) it does nothing.
func setEnding(ctx context.Context, ending string) {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		info.ending = ending
	}
}

// recordedStatus is the status a request is counted and logged with: the one
// written, or 499 for a client that went away.
func recordedStatus(written int, ending string) int {
	if ending == endingClientGone {
		return statusClientClosedRequest
	}
	return written
}

// streamEnding tells how a proxied response that reached the copy of its body
// ended: "" when it ran to its end. cause is the cause of the call's context;
// it is read before anything else, since cutting the stream also makes the
// reads and writes fail.
func streamEnding(call *proxyCall, cause error) string {
	out, in := call.out.err, call.body.err
	if call.body.rc == nil {
		// No body was read: an upgraded connection (a WebSocket), which ends
		// when either side closes it. Only jwtgate's own limits make an ending.
		switch {
		case errors.Is(cause, errIdleTimeout):
			return endingIdleTimeout
		case errors.Is(cause, errMaxStreamDuration):
			return endingMaxStreamDuration
		}
		return ""
	}
	switch {
	case out != nil && call.out.timedOut():
		if call.out.atEnd {
			return endingMaxStreamDuration
		}
		return endingClientIdleTimeout
	case out != nil:
		return endingClientGone
	case in == nil:
		return ""
	case errors.Is(cause, errIdleTimeout):
		return endingIdleTimeout
	case errors.Is(cause, errMaxStreamDuration):
		return endingMaxStreamDuration
	case call.client.Err() != nil:
		return endingClientGone
	}
	return endingUpstreamError
}

// endStream runs after the reverse proxy, however it returned (deferred: a
// broken copy ends in panic(http.ErrAbortHandler)). A response that did not run
// to its end is named for the access line, counted and logged here; the
// failures before an answer are handleError's.
func (p *chatProxy) endStream(ctx context.Context, call *proxyCall) {
	if !call.answered {
		return
	}
	ending := streamEnding(call, context.Cause(ctx))
	if ending == "" {
		return
	}
	setEnding(call.client, ending)
	attrs := []slog.Attr{
		slog.String("reason", ending),
		slog.String("upstream", p.upstream.Host),
		slog.String("path", call.rest),
		slog.String("api_key_fingerprint", call.keyFP),
	}
	switch ending {
	case endingIdleTimeout, endingMaxStreamDuration, endingClientIdleTimeout:
		if ending != endingClientIdleTimeout && call.out.err == nil {
			// The upstream was slow, not the client.
			p.metrics.errors.WithLabelValues(upstreamTimeout).Inc()
		}
		p.logger.LogAttrs(ctx, slog.LevelInfo, "chat stream ended by jwtgate", attrs...)
	case endingUpstreamError:
		p.metrics.errors.WithLabelValues(upstreamBroken).Inc()
		attrs = append(attrs, slog.String("error", describeUpstreamError(call.body.err)))
		p.logger.LogAttrs(ctx, slog.LevelWarn, "chat upstream response broke off", attrs...)
	case endingClientGone:
		p.logger.LogAttrs(ctx, slog.LevelDebug, "chat client went away during the response", attrs...)
	}
}

// upstreamBody is the upstream's response body as the proxy reads it. It keeps
// the first read error for [streamEnding], ends a body that produces nothing
// for idle (only the time a Read waits on the upstream counts, so a slow
// client does not count as a silent upstream), and takes the headers jwtgate
// does not pass on out of the trailers once they have arrived.
//
// A Read notes when it began waiting and when it ended, which costs a look at
// the clock and no timer: one timer, set when the body is wrapped, checks the
// Read in progress when it fires and is set again for the moment that Read
// would have waited idle (or, with none in progress, for idle from then).
// Setting a runtime timer twice per Read would take the timer heap's lock
// for every event of every stream.
type upstreamBody struct {
	rc     io.ReadCloser
	res    *http.Response
	p      *chatProxy
	idle   time.Duration // zero: no idle limit
	timer  *time.Timer   // nil: no idle limit
	onIdle func()
	base   time.Time // the origin of waiting
	// waiting is when the Read in progress began, as time since base plus
	// one nanosecond; zero while no Read waits.
	waiting atomic.Int64
	closed  atomic.Bool
	err     error // the first error other than io.EOF
}

// wrap makes b read res.Body; onIdle runs when a Read has waited idle.
func (b *upstreamBody) wrap(p *chatProxy, res *http.Response, idle time.Duration, onIdle func()) {
	b.rc, b.res, b.p, b.idle = res.Body, res, p, idle
	if idle > 0 {
		b.onIdle, b.base = onIdle, time.Now()
		// Started once b.timer is set: check uses it.
		b.timer = time.AfterFunc(time.Duration(math.MaxInt64), b.check)
		b.timer.Reset(idle)
	}
	res.Body = b
}

// check runs when the idle timer fires: it ends a Read that has waited idle
// and otherwise sets the timer again.
func (b *upstreamBody) check() {
	if b.closed.Load() {
		return
	}
	next := b.idle
	if w := b.waiting.Load(); w != 0 {
		waited := time.Since(b.base) - time.Duration(w-1)
		if waited >= b.idle {
			b.onIdle()
			return
		}
		next = b.idle - waited
	}
	b.timer.Reset(next)
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	if b.timer != nil {
		b.waiting.Store(int64(time.Since(b.base)) + 1)
	}
	n, err := b.rc.Read(p)
	if b.timer != nil {
		b.waiting.Store(0)
	}
	switch {
	case err == io.EOF:
		// The transport has filled res.Trailer by now; the reverse proxy
		// copies it to the client after the last Read.
		b.p.scrubResponseHeader(b.res.Trailer)
	case err != nil && b.err == nil:
		b.err = err
	}
	return n, err
}

func (b *upstreamBody) Close() error {
	if b.timer != nil {
		b.closed.Store(true)
		b.timer.Stop()
	}
	err := b.rc.Close()
	b.p.scrubResponseHeader(b.res.Trailer)
	return err
}

// isDeadline reports whether err is a write that ran into its deadline.
func isDeadline(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)
}
