package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jwtgate/jwtgate/pkg/token"
)

// requestInfo collects what handlers learn about a request for its access log
// line. Only the goroutine serving the request touches it.
type requestInfo struct {
	requestID   string    // the client's X-Request-ID when well formed, else generated
	fingerprint string    // API key fingerprint, once known
	authFailure string    // why the bearer middleware refused the request
	ending      string    // how a response that did not run to its end ended (streamend.go)
	chat        callUsage // what counting learned about a /chat/* request (metering.go)
}

type requestInfoKey struct{}

// requestState is everything [observe] sets up for one request, in one
// allocation: the request's info, the request context (a token.Slot, which
// pkg/ginauth fills with the verified claims instead of deriving a context and
// copying the request a second time) and the copy of the request that carries
// that context.
type requestState struct {
	token.Slot // the request context; its parent is the inbound request's
	info       requestInfo
	req        http.Request
}

// Value answers requestInfoKey with the request's info and passes every other
// key to the slot.
func (st *requestState) Value(key any) any {
	if _, ok := key.(requestInfoKey); ok {
		return &st.info
	}
	return st.Slot.Value(key)
}

// newRequestState returns the state of r, whose copy carrying the state's
// context is &st.req.
func newRequestState(r *http.Request, requestID string) *requestState {
	st := &requestState{Slot: token.Slot{Context: r.Context()}, info: requestInfo{requestID: requestID}}
	// WithContext is inlined and its copy does not escape: the one copy of the
	// request is the one in st.
	st.req = *r.WithContext(st)
	return st
}

// infoOf returns the request's info, set up by [observe]. Outside observe (a
// handler under test on its own) it returns a throwaway value.
func infoOf(c *gin.Context) *requestInfo {
	if info, ok := c.Request.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// observe gives every request an id, counts and times it, and writes one access
// log line for it, whatever ends it. The line names the route template, never
// the raw path, and carries no header, body, token or key: only the key's
// fingerprint when the request had one. The request id reaches the line through
// the logger, which [New] wraps with [requestIDHandler].
//
// It records in a deferred call, so that a request whose handler ends in a
// panic is recorded too: the reverse proxy aborts a broken response with
// http.ErrAbortHandler, which is passed on once recorded. A WebSocket is
// recorded as 101 when it ends, with the connection's whole duration. A
// response that did not run to its end is recorded with its ending
// (streamend.go): a handler names it with [setEnding], and an abort it did not
// name is "aborted".
func observe(logger *slog.Logger, m *metrics, ids *requestIDs) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		var id string
		if v := c.Request.Header[RequestIDHeader]; len(v) > 0 { // Header.Get, the key already canonical
			id = v[0]
		}
		if !validRequestID(id) {
			id = ids.next()
		}
		setHeader(c.Writer.Header(), RequestIDHeader, id)
		st := newRequestState(c.Request, id)
		info := &st.info
		c.Request = &st.req

		defer func() {
			v := recover()
			if v != nil && info.ending == "" {
				info.ending = endingAborted
			}
			record(c, logger, m, info, start)
			if v != nil {
				panic(v)
			}
		}()
		c.Next()
	}
}

// record counts, times and logs one request for observe.
func record(c *gin.Context, logger *slog.Logger, m *metrics, info *requestInfo, start time.Time) {
	elapsed := time.Since(start)
	route := c.FullPath()
	if route == "" {
		route = unmatchedRoute
	}
	method := methodLabel(c.Request.Method)
	status := recordedStatus(c.Writer.Status(), info.ending)
	m.observeRequest(route, method, status, elapsed)
	if info.ending != "" {
		m.interrupted.WithLabelValues(info.ending).Inc()
	}

	ctx := c.Request.Context()
	if !logger.Enabled(ctx, slog.LevelInfo) {
		return
	}
	fp, sid := info.fingerprint, ""
	if claims, ok := token.FromContext(ctx); ok {
		fp, sid = claims.APIKeyFingerprint, claims.SessionID
	}
	attrs := make([]slog.Attr, 0, 15)
	attrs = append(attrs,
		slog.String("method", method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("latency", elapsed),
		slog.Int("bytes", max(c.Writer.Size(), 0)),
	)
	if info.ending != "" {
		attrs = append(attrs, slog.String("ending", info.ending))
	}
	if fp != "" {
		attrs = append(attrs, slog.String("api_key_fingerprint", fp))
	}
	if info.authFailure != "" {
		attrs = append(attrs, slog.String("auth_failure", info.authFailure))
	}
	if isChatPath(c.Request.URL.Path) {
		attrs = appendChatAttrs(attrs, &info.chat, sid)
	}
	// The record is handed to the handler directly: Logger.LogAttrs would walk
	// the stack for the caller's pc first, a tenth of the line's cost, and the
	// access line's source is always this function.
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
	r.AddAttrs(attrs...)
	_ = logger.Handler().Handle(ctx, r)
}

// recoverPanics turns a panic in a handler into a logged error and a bare JSON
// 500. No handler is meant to panic; this keeps one bug from dropping the
// connection without an answer. http.ErrAbortHandler is passed on: it is how a
// handler (the reverse proxy) asks net/http to abort the response.
func recoverPanics(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			logger.LogAttrs(c.Request.Context(), slog.LevelError, "panic serving a request",
				slog.String("route", c.FullPath()),
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			if c.Writer.Written() {
				c.Abort() // too late for a status; the client sees a cut-off response
				return
			}
			respondError(c, &apiError{status: http.StatusInternalServerError, code: codeInternal, desc: "internal error"})
		}()
		c.Next()
	}
}

// handleNoRoute answers requests that match no route.
func handleNoRoute(c *gin.Context) {
	respondError(c, &apiError{status: http.StatusNotFound, code: codeNotFound, desc: "no such route"})
}

// handleNoMethod answers requests for a route that exists under other methods;
// gin has already set the Allow header.
func handleNoMethod(c *gin.Context) {
	respondError(c, &apiError{status: http.StatusMethodNotAllowed, code: codeMethodNotAllowed,
		desc: "the route does not allow this method"})
}
