package ginauth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/ginauth"
)

// FuzzAuthorizationHeader sends arbitrary Authorization values through the
// middleware and a real verifier: never a panic or a 5xx, only 200, 400 or 401,
// and every refusal has the JSON error shape.
func FuzzAuthorizationHeader(f *testing.F) {
	tt := newTestTokens(f)
	good := tt.mustIssue(f, testAPIKey).Token
	for _, seed := range []string{
		"", "Bearer", "Bearer ", "bearer " + good, "Bearer " + good, "Bearer  " + good,
		"Bearer " + good + " x", "Bearer " + good + "=", "Basic dXNlcjpwYXNz", "Bearer a.b.c",
		"Bearer eyJhbGciOiJub25lIn0.e30.", "Bearer \x00", "Bearer tök", "Bearer ==",
		"Bearer " + strings.Repeat("A", 9000),
	} {
		f.Add(seed)
	}
	r := newTestRouter(ginauth.New(tt.verifier))

	f.Fuzz(func(t *testing.T, value string) {
		req := httptest.NewRequest(http.MethodGet, "/protected", nil)
		req.Header["Authorization"] = []string{value}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)

		switch rec.Code {
		case http.StatusOK:
			return
		case http.StatusBadRequest, http.StatusUnauthorized:
		default:
			t.Fatalf("status %d for %q", rec.Code, value)
		}
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == "" || body.Description == "" {
			t.Fatalf("refusal body %q is not the error shape (%v)", rec.Body, err)
		}
		if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), `Bearer realm="jwtgate"`) {
			t.Fatalf("WWW-Authenticate = %q", rec.Header().Get("WWW-Authenticate"))
		}
		if len(value) > 20 && strings.Contains(rec.Body.String(), value) {
			t.Fatalf("refusal echoes the header value")
		}
	})
}
