package ginauth

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json"

	"github.com/jwtgate/jwtgate/pkg/dpop"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// Error codes of refusals: the RFC 6750 section 3.1 ones, and the body code for a
// request that carries no token at all. They are the "error" member of the JSON
// body [WriteError] writes.
const (
	// CodeUnauthorized is the body code of a request without credentials; its
	// challenge carries no error attribute (RFC 6750 section 3.1).
	CodeUnauthorized = "unauthorized"
	// CodeInvalidRequest is a malformed request: a malformed Authorization header,
	// or credentials in more than one place.
	CodeInvalidRequest = "invalid_request"
	// CodeInvalidToken is a token the verifier refused.
	CodeInvalidToken = "invalid_token"
)

// Refusal is why a request is turned away, as handed to an [ErrorWriter].
type Refusal struct {
	// Status is the HTTP status: 400 for [CodeInvalidRequest], 401 otherwise.
	Status int
	// Code is one of [CodeUnauthorized], [CodeInvalidRequest], [CodeInvalidToken],
	// and with [WithDPoP] [CodeInvalidDPoPProof] and [CodeUseDPoPNonce].
	Code string
	// Description is safe to send to the client: it never holds the token nor the
	// verifier's own error text.
	Description string
	// Err wraps [ErrNoToken], [ErrBadRequest] or the verifier's error; it never
	// holds the token. [Reason] labels it.
	Err error
	// bare marks a challenge without error attributes (no credentials at all).
	bare bool
	// dpop marks a DPoP challenge (RFC 9449 section 7.1) instead of a Bearer one.
	dpop bool
	// nonce, when set, is sent in a DPoP-Nonce header (use_dpop_nonce).
	nonce string
}

func noToken() *Refusal {
	return &Refusal{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
		Description: "a bearer token is required", Err: ErrNoToken, bare: true}
}

func badRequest(desc string) *Refusal {
	return &Refusal{Status: http.StatusBadRequest, Code: CodeInvalidRequest,
		Description: desc, Err: fmt.Errorf("%w: %s", ErrBadRequest, desc)}
}

// invalidToken describes a verifier refusal with token.Reason only: the verifier's
// own text may say more than a client should learn.
func invalidToken(err error) *Refusal {
	_, desc := token.Reason(err)
	return &Refusal{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Description: desc, Err: err}
}

// ErrorWriter writes the status and body of a refusal. When it is called the
// middleware has set WWW-Authenticate and Cache-Control: no-store and aborted the
// chain; the writer adds the body (and any headers of its own). The default is
// [WriteError].
type ErrorWriter func(c *gin.Context, r Refusal)

// errorBody is the RFC 6749 section 5.2 shape of an error body.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// WriteError writes status and the JSON error body {"error": code,
// "error_description": description} (the RFC 6749 section 5.2 shape), with
// Content-Type application/json, X-Content-Type-Options: nosniff and
// Cache-Control: no-store. description is sent as is: it must never hold a token,
// an API key or a decoder's error text.
func WriteError(w http.ResponseWriter, status int, code, description string) {
	b, err := json.Marshal(errorBody{Error: code, Description: description})
	if err != nil {
		// Only invalid UTF-8 fails to encode; no client input reaches these strings.
		b = []byte(`{"error":"internal_error","error_description":"internal error"}`)
		status = http.StatusInternalServerError
	}
	WriteJSON(w, status, b)
}

// WriteJSON writes b, a JSON document, with status and the headers every JSON
// error answer carries: Content-Type application/json, X-Content-Type-Options:
// nosniff and Cache-Control: no-store.
func WriteJSON(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b) // a failed write means the client is gone
}

// writeDefault is the default [ErrorWriter].
func writeDefault(c *gin.Context, r Refusal) {
	WriteError(c.Writer, r.Status, r.Code, r.Description)
}

// challenger writes refusals for one realm. The quoted realm is built once.
type challenger struct {
	prefix     string // `Bearer realm="..."`
	dpopPrefix string // `DPoP realm="..."`
}

func newChallenger(realm string) challenger {
	q := `realm="` + quote(realm) + `"`
	return challenger{prefix: "Bearer " + q, dpopPrefix: SchemeDPoP + " " + q}
}

// header returns the WWW-Authenticate value for ref (RFC 6750 section 3; for a
// DPoP refusal, RFC 9449 section 7.1, naming the accepted proof algorithms).
func (ch challenger) header(ref *Refusal) string {
	if ref.bare {
		return ch.prefix
	}
	attrs := `, error="` + ref.Code + `", error_description="` + quote(ref.Description) + `"`
	if ref.dpop {
		return ch.dpopPrefix + attrs + `, algs="` + dpop.Algorithms + `"`
	}
	return ch.prefix + attrs
}

// quote makes s safe inside a quoted-string: backslash and double quote are dropped
// along with anything outside printable ASCII. RFC 6750 forbids both in
// error_description, and the realm is under the developer's control, so nothing is
// lost by dropping rather than escaping.
func quote(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}
