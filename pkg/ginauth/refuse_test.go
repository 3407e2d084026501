package ginauth_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/jwtgate/jwtgate/pkg/ginauth"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// TestRefusalHeaders checks that every refusal of the middleware carries the
// headers every JSON error answer carries.
func TestRefusalHeaders(t *testing.T) {
	r := newTestRouter(ginauth.New(&fakeVerifier{err: token.ErrTokenExpired}))
	for _, auth := range []string{"", "Bearer a b", "Bearer tok"} {
		rec := do(t, r, "/protected", auth)
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Cache-Control":          "no-store",
			"Content-Type":           "application/json; charset=utf-8",
		} {
			if got := rec.Header().Get(k); got != want {
				t.Errorf("Authorization %q: %s = %q, want %q", auth, k, got, want)
			}
		}
	}
}

// TestMiddlewareRefuse checks that a handler's refusal uses the middleware's realm,
// error writer and hook: one path for every refusal.
func TestMiddlewareRefuse(t *testing.T) {
	var hooked error
	var written ginauth.Refusal
	mw := ginauth.NewMiddleware(&fakeVerifier{claims: fakeClaims()},
		ginauth.WithRealm("alpha"),
		ginauth.WithErrorHook(func(_ *gin.Context, err error) { hooked = err }),
		ginauth.WithErrorWriter(func(c *gin.Context, ref ginauth.Refusal) {
			written = ref
			c.JSON(ref.Status, gin.H{"custom": ref.Code})
		}))
	r := gin.New()
	reached := false
	r.GET("/protected", mw.Handler(), func(c *gin.Context) {
		mw.Refuse(c, token.ErrSessionTooOld)
	}, func(c *gin.Context) { reached = true })
	rec := do(t, r, "/protected", "Bearer tok")
	if rec.Code != http.StatusUnauthorized || reached {
		t.Fatalf("status %d, next handler reached %v; want 401 and the chain aborted", rec.Code, reached)
	}
	want := `Bearer realm="alpha", error="invalid_token", error_description="session is too old to refresh"`
	if got := rec.Header().Get("WWW-Authenticate"); got != want {
		t.Errorf("WWW-Authenticate = %q, want %q", got, want)
	}
	if rec.Body.String() != `{"custom":"invalid_token"}` {
		t.Errorf("body = %s: the error writer was not used", rec.Body)
	}
	if !errors.Is(hooked, token.ErrSessionTooOld) || !errors.Is(written.Err, token.ErrSessionTooOld) {
		t.Errorf("hook saw %v, writer saw %v; want ErrSessionTooOld", hooked, written.Err)
	}
	if label, _ := ginauth.Reason(hooked); label != "session_too_old" {
		t.Errorf("Reason label = %q", label)
	}
}

func TestReason(t *testing.T) {
	for _, tt := range []struct {
		err   error
		label string
	}{
		{ginauth.ErrNoToken, "no_token"},
		{errors.Join(ginauth.ErrBadRequest, errors.New("x")), "bad_request"},
		{token.ErrTokenExpired, "expired"},
		{errors.New("other"), "invalid"},
	} {
		label, desc := ginauth.Reason(tt.err)
		if label != tt.label || desc == "" {
			t.Errorf("Reason(%v) = %q, %q; want label %q and a description", tt.err, label, desc, tt.label)
		}
	}
}
