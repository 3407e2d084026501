package server

import (
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json"

	"github.com/jwtgate/jwtgate/pkg/ginauth"
)

// Error codes in response bodies. The RFC 6750 ones are pkg/ginauth's; the
// chat codes are the "code" member of the OpenAI error shape jwtgate answers with
// on /chat/* (DESIGN.md, "Errors on /chat/*"; see chaterror.go).
const (
	codeInvalidRequest   = ginauth.CodeInvalidRequest
	codeInvalidToken     = ginauth.CodeInvalidToken
	codeInvalidAPIKey    = "invalid_api_key"
	codeTooLarge         = "request_too_large"
	codeUnsupportedMedia = "unsupported_media_type"
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeRateLimited      = "rate_limited"
	codeNotReady         = "not_ready"
	codeInternal         = "internal_error"

	codeTokenExpired            = "token_expired"
	codeModelNotAllowed         = "model_not_allowed"
	codePathNotAllowed          = "path_not_allowed"
	codeMaxOutputTokensExceeded = "max_output_tokens_exceeded"
	codeRateLimitExceeded       = "rate_limit_exceeded"
	codeBudgetExceeded          = "budget_exceeded"
	codeUpstreamUnavailable     = "upstream_unavailable"
	codeUpstreamTimeout         = "upstream_timeout"
)

const contentTypeJSON = "application/json; charset=utf-8"

// apiError is a refusal on its way to the client. desc is sent as is: it must
// never hold a token, an API key or a decoder's error text (which can quote input).
type apiError struct {
	status int
	code   string
	desc   string
}

func invalidRequest(desc string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeInvalidRequest, desc: desc}
}

// respondError writes e in the error dialect of the request's route (the OpenAI
// shape on /chat/*, the RFC 6749 shape everywhere else) and aborts the gin chain.
func respondError(c *gin.Context, e *apiError) {
	c.Abort()
	if isChatPath(c.Request.URL.Path) {
		writeChatError(c.Writer, e.status, e.code, e.desc)
		return
	}
	writeError(c.Writer, e.status, e.code, e.desc)
}

// writeError writes the RFC 6749 JSON error body with status to any
// ResponseWriter; the one writer is pkg/ginauth's, so the middleware's refusals
// and the server's errors share their shape and headers. Error responses are never
// cached.
func writeError(w http.ResponseWriter, status int, code, desc string) {
	ginauth.WriteError(w, status, code, desc)
}

// respondJSON writes v as JSON with status.
func respondJSON(c *gin.Context, status int, v any) {
	writeJSON(c.Writer, status, v)
}

// writeJSON writes v as JSON with status. The values passed in are plain structs
// of strings and numbers, so encoding cannot fail; if it did, the client gets a
// generic 500 rather than half a body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(internalErrorBody)
	}
	writeJSONBytes(w, status, b)
}

// internalErrorBody answers an encoding failure, which no client input can cause.
const internalErrorBody = `{"error":"` + codeInternal + `","error_description":"internal error"}`

// writeJSONBytes writes b, already JSON, with status.
func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	setHeader(h, "Content-Type", contentTypeJSON)
	setHeader(h, "X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b) // a failed write means the client is gone
}

// setHeader is h.Set(key, value) for a key already in canonical form (a
// constant), without canonicalizing it again on every response.
func setHeader(h http.Header, key, value string) {
	h[key] = []string{value}
}

// appender is a response body that encodes itself by appending to a buffer: the
// hot responses (every protected request reads a session, every new session gets
// a token) skip reflection this way, about 1 µs each.
type appender interface {
	appendJSON(dst []byte) ([]byte, error)
}

// respondAppender writes a's JSON with status. Hand encoding fails only on a
// string that is not valid UTF-8, which the reflective encoder refuses too: that is
// answered as writeJSON answers any encoding failure. It is generic so that a,
// a struct, is not boxed into an interface per response. The buffer comes from
// bufs and is cleared before it goes back, since the writer has copied it by
// then and a token response is a secret.
func respondAppender[A appender](c *gin.Context, bufs *bodyBuffers, status int, a A) {
	buf := bufs.get()
	defer bufs.put(buf)
	b, err := a.appendJSON((*buf)[:0])
	if err != nil {
		writeJSONBytes(c.Writer, http.StatusInternalServerError, []byte(internalErrorBody))
		return
	}
	*buf = b
	writeJSONBytes(c.Writer, status, b)
}

// bodyBuffers lends a handler the buffers it encodes its answers into; each
// handler maker holds its own.
type bodyBuffers struct{ pool sync.Pool }

// maxPooledBody bounds the buffers bodyBuffers keeps: a token response fits
// with room to spare, and one outsized answer does not pin its buffer.
const maxPooledBody = 4 << 10

func (p *bodyBuffers) get() *[]byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 1024)
	return &b
}

// put clears the whole of b's array (an encoding that failed half way wrote
// past b's length) and returns it to the pool.
func (p *bodyBuffers) put(b *[]byte) {
	if cap(*b) > maxPooledBody {
		return
	}
	*b = (*b)[:0]
	clear((*b)[:cap(*b)])
	p.pool.Put(b)
}
