package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"sync/atomic"
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

// requestIDs generates the ids of requests that come without a usable one: 32
// lower-case hex digits, the first 16 a random prefix drawn once per server,
// the last 16 a per-server counter passed through a fixed bijection of 64-bit
// values, so that every id of one server differs from every other, and ids of
// two servers (replicas, or one before and after a restart) share a prefix with
// a chance of 2^-64. No random bits are drawn per request: an id costs an
// atomic add and a few multiplications instead of a getrandom call. Ids are
// not secrets; the mixing only keeps consecutive ids from showing how many
// requests a server has answered.
type requestIDs struct {
	prefix [16]byte // hex of the random prefix
	key    uint64   // added to the counter before mixing, random too
	n      atomic.Uint64
}

// newRequestIDs returns a generator with a fresh random prefix.
func newRequestIDs() *requestIDs {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	g := &requestIDs{key: binary.LittleEndian.Uint64(b[8:])}
	hex.Encode(g.prefix[:], b[:8])
	return g
}

// next returns a new request id.
func (g *requestIDs) next() string {
	v := mix64(g.n.Add(1) + g.key)
	var b [32]byte
	copy(b[:16], g.prefix[:])
	const digits = "0123456789abcdef"
	for i := 31; i >= 16; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}

// mix64 is the finalizer of SplitMix64: each step (an xor with a right shift
// of itself, a multiplication by an odd constant) can be undone, so distinct
// inputs give distinct outputs.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
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
