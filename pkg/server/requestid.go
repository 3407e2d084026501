package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
)

// RequestIDHeader (X-Request-ID, spelled in Go's canonical form so header lookups
// need no conversion) carries a request's id: taken from the client when well
// formed, set on every response, and forwarded to the chat upstream.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds a client-supplied request id.
const maxRequestIDLen = 128

// validRequestID reports whether a client's request id may be used as is: 1 to
// 128 characters of [A-Za-z0-9._-]. Anything else (spaces, quotes, control
// characters, a token pasted by mistake into a long value) is replaced, so a
// client cannot inject text into log lines or upstream headers through it.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns 128 random bits in hex.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b[:])
}

// requestIDOf returns the id of the request ctx belongs to, or "" outside one.
func requestIDOf(ctx context.Context) string {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return info.requestID
	}
	return ""
}

// requestIDHandler adds the request id to every record logged with a request's
// context, so that the access line and whatever a handler logs about the same
// request can be joined.
type requestIDHandler struct{ slog.Handler }

// withRequestIDs wraps logger's handler with [requestIDHandler].
func withRequestIDs(logger *slog.Logger) *slog.Logger {
	return slog.New(requestIDHandler{logger.Handler()})
}

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := requestIDOf(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
