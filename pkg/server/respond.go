package server

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json"
)

// Error codes in response bodies, beyond the RFC 6750 ones of pkg/ginauth.
const (
	codeInvalidRequest   = "invalid_request"
	codeInvalidAPIKey    = "invalid_api_key"
	codeInvalidToken     = "invalid_token"
	codeTooLarge         = "request_too_large"
	codeUnsupportedMedia = "unsupported_media_type"
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeRateLimited      = "rate_limited"
	codeNotReady         = "not_ready"
	codeInternal         = "internal_error"
	codeBadGateway       = "bad_gateway"
	codeGatewayTimeout   = "gateway_timeout"
)

const contentTypeJSON = "application/json; charset=utf-8"

// errorBody is the shape of every error response.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

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

// respondError writes e as JSON and aborts the gin chain.
func respondError(c *gin.Context, e *apiError) {
	c.Abort()
	writeError(c.Writer, e.status, e.code, e.desc)
}

// writeError writes the JSON error body with status to any ResponseWriter, for
// code outside gin (the error path of the reverse proxy). Error responses are
// never cached.
func writeError(w http.ResponseWriter, status int, code, desc string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	writeJSON(w, status, errorBody{Error: code, Description: desc})
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
	h.Set("Content-Type", contentTypeJSON)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b) // a failed write means the client is gone
}

// appender is a response body that encodes itself by appending to a buffer: the
// hot responses (every protected request reads a session, every new session gets
// a token) skip reflection this way, about 1 µs each.
type appender interface {
	appendJSON(dst []byte) ([]byte, error)
}

// respondAppender writes a's JSON with status. Hand encoding fails only on a
// string that is not valid UTF-8, which the reflective encoder refuses too: that is
// answered as writeJSON answers any encoding failure.
func respondAppender(c *gin.Context, status int, a appender) {
	b, err := a.appendJSON(make([]byte, 0, 768)) // a token response fits
	if err != nil {
		writeJSONBytes(c.Writer, http.StatusInternalServerError, []byte(internalErrorBody))
		return
	}
	writeJSONBytes(c.Writer, status, b)
}
