package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json"

	"github.com/jwtgate/jwtgate/pkg/ginauth"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// chatPrefix is where the chat routes start; errors under it speak the OpenAI
// dialect, because the clients there are the vendors' SDKs, which read only that
// shape and would otherwise show a bare status.
const chatPrefix = "/chat"

// isChatPath reports whether path is under the chat routes.
func isChatPath(path string) bool {
	return strings.HasPrefix(path, chatPrefix) && (len(path) == len(chatPrefix) || path[len(chatPrefix)] == '/')
}

// chatErrorBody is the OpenAI error object: {"error": {"message", "type", "code"}}.
type chatErrorBody struct {
	Error chatErrorObject `json:"error"`
}

type chatErrorObject struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    string `json:"code"`
}

// chatCode maps a code jwtgate uses on other routes to the one DESIGN.md lists
// for /chat/*: the chat codes pass unchanged, a missing token and a refused DPoP
// proof are invalid_token, and the generic client faults (404, 405, 413, 415) are
// invalid_request, their message telling them apart.
func chatCode(code string) string {
	switch code {
	case codeInvalidToken, codeTokenExpired, codeInvalidRequest, codeModelNotAllowed,
		codePathNotAllowed, codeMaxOutputTokensExceeded, codeRateLimitExceeded,
		codeBudgetExceeded, codeUpstreamUnavailable, codeUpstreamTimeout:
		return code
	case ginauth.CodeUnauthorized, ginauth.CodeInvalidDPoPProof, ginauth.CodeUseDPoPNonce:
		// RFC 9449's codes are in the DPoP challenge; SDKs read the body's code
		// from the chat list, where a refused proof is a refused credential.
		return codeInvalidToken
	case codeNotFound, codeMethodNotAllowed, codeTooLarge, codeUnsupportedMedia:
		return codeInvalidRequest
	}
	return code // internal_error: no client input leads here
}

// chatErrorType is the "type" member for a status, in the words the vendors' SDKs
// and their users know.
func chatErrorType(status int, code string) string {
	switch {
	case code == codeBudgetExceeded:
		return "insufficient_quota"
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusNotFound:
		return "not_found_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 500:
		return "api_error"
	}
	return "invalid_request_error"
}

// writeChatError writes status and the OpenAI-shaped error body, with the same
// headers every JSON error carries (nosniff, no-store).
func writeChatError(w http.ResponseWriter, status int, code, desc string) {
	code = chatCode(code)
	b, err := json.Marshal(chatErrorBody{Error: chatErrorObject{Message: desc, Type: chatErrorType(status, code), Code: code}})
	if err != nil {
		// desc is always jwtgate's own valid text; this cannot happen.
		status, b = http.StatusInternalServerError, []byte(`{"error":{"message":"internal error","type":"api_error","code":"internal_error"}}`)
	}
	ginauth.WriteJSON(w, status, b)
}

// writeChatRefusal is the bearer middleware's error writer on /chat/*: the
// challenge header stays RFC 6750's, the body is the OpenAI shape, and an expired
// token is told apart (token_expired) so an app knows to refresh it.
func writeChatRefusal(c *gin.Context, r ginauth.Refusal) {
	code := r.Code
	if errors.Is(r.Err, token.ErrTokenExpired) {
		code = codeTokenExpired
	}
	writeChatError(c.Writer, r.Status, code, r.Description)
}
