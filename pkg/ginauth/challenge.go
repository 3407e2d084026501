package ginauth

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// Error codes of RFC 6750 section 3.1, and the body code for a missing token.
const (
	codeUnauthorized   = "unauthorized"
	codeInvalidRequest = "invalid_request"
	codeInvalidToken   = "invalid_token"
)

// refusal is why a request is turned away and how to answer it. desc is sent to the
// client and must never hold the token; err goes to the error hook.
type refusal struct {
	status int
	code   string
	desc   string
	err    error
	bare   bool // challenge without error attributes (no credentials at all)
}

func noToken() *refusal {
	return &refusal{status: http.StatusUnauthorized, code: codeUnauthorized,
		desc: "a bearer token is required", err: ErrNoToken, bare: true}
}

func badRequest(desc string) *refusal {
	return &refusal{status: http.StatusBadRequest, code: codeInvalidRequest,
		desc: desc, err: fmt.Errorf("%w: %s", ErrBadRequest, desc)}
}

// invalidToken describes a verifier refusal with token.Reason only: the verifier's
// own text may say more than a client should learn.
func invalidToken(err error) *refusal {
	_, desc := token.Reason(err)
	return &refusal{status: http.StatusUnauthorized, code: codeInvalidToken, desc: desc, err: err}
}

// errorBody is the JSON body of every refusal.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// challenger writes refusals for one realm. The quoted realm is built once.
type challenger struct {
	prefix string // `Bearer realm="..."`
}

func newChallenger(realm string) challenger {
	return challenger{prefix: `Bearer realm="` + quote(realm) + `"`}
}

// header returns the WWW-Authenticate value for ref (RFC 6750 section 3).
func (ch challenger) header(ref *refusal) string {
	if ref.bare {
		return ch.prefix
	}
	return ch.prefix + `, error="` + ref.code + `", error_description="` + quote(ref.desc) + `"`
}

// refuse answers c with ref and aborts the chain.
func (ch challenger) refuse(c *gin.Context, ref *refusal) {
	c.Header("WWW-Authenticate", ch.header(ref))
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(ref.status, errorBody{Error: ref.code, Description: ref.desc})
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
