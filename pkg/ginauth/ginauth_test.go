package ginauth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jwtgate/jwtgate/pkg/ginauth"
	"github.com/jwtgate/jwtgate/pkg/token"
)

func TestBearerParsing(t *testing.T) {
	const (
		bare       = `Bearer realm="jwtgate"`
		badRequest = `Bearer realm="jwtgate", error="invalid_request", error_description=`
	)
	tests := []struct {
		name       string
		headers    []string // Authorization values; nil: none
		wantStatus int
		wantCode   string // body "error"; empty on success
		wantAuth   string // WWW-Authenticate prefix
		wantToken  string // what the verifier is given; empty: not called
		wantErr    error  // what the error hook is given
	}{
		{name: "no header", wantStatus: 401, wantCode: "unauthorized", wantAuth: bare, wantErr: ginauth.ErrNoToken},
		{name: "empty header", headers: []string{""}, wantStatus: 401, wantCode: "unauthorized", wantAuth: bare, wantErr: ginauth.ErrNoToken},
		{name: "basic scheme", headers: []string{"Basic dXNlcjpwYXNz"}, wantStatus: 401, wantCode: "unauthorized", wantAuth: bare, wantErr: ginauth.ErrNoToken},
		{name: "scheme prefix only", headers: []string{"Bearerx tok"}, wantStatus: 401, wantCode: "unauthorized", wantAuth: bare, wantErr: ginauth.ErrNoToken},
		{name: "tab after scheme", headers: []string{"Bearer\ttok"}, wantStatus: 401, wantCode: "unauthorized", wantAuth: bare, wantErr: ginauth.ErrNoToken},
		{name: "bearer", headers: []string{"Bearer tok.en_1-2~3+4/5"}, wantStatus: 200, wantToken: "tok.en_1-2~3+4/5"},
		{name: "lower case scheme", headers: []string{"bearer tok"}, wantStatus: 200, wantToken: "tok"},
		{name: "upper case scheme", headers: []string{"BEARER tok"}, wantStatus: 200, wantToken: "tok"},
		{name: "several spaces", headers: []string{"Bearer    tok"}, wantStatus: 200, wantToken: "tok"},
		{name: "padding", headers: []string{"Bearer tok=="}, wantStatus: 200, wantToken: "tok=="},
		{name: "scheme alone", headers: []string{"Bearer"}, wantStatus: 400, wantCode: "invalid_request", wantAuth: badRequest, wantErr: ginauth.ErrBadRequest},
		{name: "scheme and space", headers: []string{"Bearer "}, wantStatus: 400, wantCode: "invalid_request", wantAuth: badRequest, wantErr: ginauth.ErrBadRequest},
		{name: "two headers", headers: []string{"Bearer a", "Bearer b"}, wantStatus: 400, wantCode: "invalid_request", wantAuth: badRequest, wantErr: ginauth.ErrBadRequest},
		{name: "two tokens", headers: []string{"Bearer a b"}, wantStatus: 400, wantCode: "invalid_request", wantAuth: badRequest, wantErr: ginauth.ErrBadRequest},
		{name: "comma list", headers: []string{"Bearer a, Bearer b"}, wantStatus: 400, wantCode: "invalid_request", wantAuth: badRequest, wantErr: ginauth.ErrBadRequest},
		{name: "auth params", headers: []string{`Bearer realm="x"`}, wantStatus: 400, wantCode: "invalid_request", wantAuth: badRequest, wantErr: ginauth.ErrBadRequest},
		{name: "padding only", headers: []string{"Bearer =="}, wantStatus: 400, wantCode: "invalid_request", wantAuth: badRequest, wantErr: ginauth.ErrBadRequest},
		{name: "padding inside", headers: []string{"Bearer a=b"}, wantStatus: 400, wantCode: "invalid_request", wantAuth: badRequest, wantErr: ginauth.ErrBadRequest},
		{name: "non-ASCII", headers: []string{"Bearer tök"}, wantStatus: 400, wantCode: "invalid_request", wantAuth: badRequest, wantErr: ginauth.ErrBadRequest},
		{name: "control character", headers: []string{"Bearer to\x00k"}, wantStatus: 400, wantCode: "invalid_request", wantAuth: badRequest, wantErr: ginauth.ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fv := &fakeVerifier{claims: fakeClaims()}
			var hookErrs []error
			r := newTestRouter(ginauth.New(fv, ginauth.WithErrorHook(func(_ *gin.Context, err error) {
				hookErrs = append(hookErrs, err)
			})))
			rec := do(t, r, "/protected", tt.headers...)

			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", rec.Code, tt.wantStatus, rec.Body)
			}
			calls := fv.calls()
			if tt.wantToken == "" {
				if len(calls) != 0 {
					t.Errorf("verifier called with %d tokens, want none", len(calls))
				}
			} else if len(calls) != 1 || calls[0] != tt.wantToken {
				t.Errorf("verifier got %q, want [%q]", calls, tt.wantToken)
			}
			if tt.wantErr == nil {
				if len(hookErrs) != 0 {
					t.Errorf("error hook called with %v on success", hookErrs)
				}
				if got := rec.Header().Get("WWW-Authenticate"); got != "" {
					t.Errorf("WWW-Authenticate = %q on success", got)
				}
				return
			}
			if len(hookErrs) != 1 || !errors.Is(hookErrs[0], tt.wantErr) {
				t.Errorf("error hook got %v, want one error wrapping %v", hookErrs, tt.wantErr)
			}
			body := decodeError(t, rec)
			if body.Error != tt.wantCode || body.Description == "" {
				t.Errorf("body = %+v, want error %q and a description", body, tt.wantCode)
			}
			auth := rec.Header().Get("WWW-Authenticate")
			if !strings.HasPrefix(auth, tt.wantAuth) {
				t.Errorf("WWW-Authenticate = %q, want prefix %q", auth, tt.wantAuth)
			}
			if tt.wantAuth == bare && auth != bare {
				t.Errorf("WWW-Authenticate = %q, want exactly %q (no error code without credentials)", auth, bare)
			}
			if tt.wantAuth == badRequest && auth != badRequest+`"`+body.Description+`"` {
				t.Errorf("WWW-Authenticate = %q, want the body's description %q", auth, body.Description)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
				t.Errorf("Content-Type = %q, want JSON", got)
			}
		})
	}
}

// tokenErrors are the refusal sentinels of package token.
var tokenErrors = []error{
	token.ErrTokenMalformed,
	token.ErrTokenTooLarge,
	token.ErrTokenUnknownKey,
	token.ErrTokenAlgorithm,
	token.ErrTokenUnsupportedHeader,
	token.ErrTokenSignatureInvalid,
	token.ErrTokenClaimMissing,
	token.ErrTokenExpired,
	token.ErrTokenNotValidYet,
	token.ErrTokenIssuedInFuture,
	token.ErrTokenRevoked,
	token.ErrTokenInvalidIssuer,
	token.ErrTokenInvalidAudience,
	token.ErrTokenAPIKeyInvalid,
}

func TestRefusalReasons(t *testing.T) {
	const detail = "internal detail that must not reach the client"
	type reasonCase struct {
		name     string
		err      error
		wantDesc string
	}
	var tests []reasonCase
	for _, sentinel := range tokenErrors {
		tests = append(tests, reasonCase{sentinel.Error(), fmt.Errorf("%w: %s", sentinel, detail), sentinel.Error()})
	}
	tests = append(tests, reasonCase{"unknown error", errors.New(detail), "token is invalid"})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, wantDesc := token.Reason(tt.err)
			if wantDesc != tt.wantDesc {
				t.Fatalf("token.Reason description = %q, test expects %q", wantDesc, tt.wantDesc)
			}
			var hookErr error
			fv := &fakeVerifier{err: tt.err}
			r := newTestRouter(ginauth.New(fv, ginauth.WithErrorHook(func(_ *gin.Context, err error) { hookErr = err })))
			rec := do(t, r, "/protected", "Bearer some.opaque.token")

			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401", rec.Code)
			}
			wantAuth := `Bearer realm="jwtgate", error="invalid_token", error_description="` + tt.wantDesc + `"`
			if got := rec.Header().Get("WWW-Authenticate"); got != wantAuth {
				t.Errorf("WWW-Authenticate = %q, want %q", got, wantAuth)
			}
			if body := decodeError(t, rec); body != (errorBody{"invalid_token", tt.wantDesc}) {
				t.Errorf("body = %+v, want invalid_token %q", body, tt.wantDesc)
			}
			if strings.Contains(rec.Body.String(), detail) || strings.Contains(rec.Header().Get("WWW-Authenticate"), detail) {
				t.Error("response carries the verifier's own error text")
			}
			if strings.Contains(rec.Body.String(), "some.opaque.token") {
				t.Error("response echoes the token")
			}
			if !errors.Is(hookErr, tt.err) {
				t.Errorf("hook got %v, want %v", hookErr, tt.err)
			}
		})
	}
}

func TestNilClaimsRefused(t *testing.T) {
	r := newTestRouter(ginauth.New(&fakeVerifier{}))
	rec := do(t, r, "/protected", "Bearer tok")
	if rec.Code != http.StatusUnauthorized || decodeError(t, rec).Error != "invalid_token" {
		t.Fatalf("status %d body %s, want 401 invalid_token", rec.Code, rec.Body)
	}
}

func TestRealVerifier(t *testing.T) {
	tt := newTestTokens(t)
	good := tt.mustIssue(t, testAPIKey).Token

	// Tokens the verifier must refuse, each for a known reason.
	now := time.Now()
	expired := newTestTokens(t, token.WithClock(func() time.Time { return now.Add(-2 * time.Hour) })).mustIssue(t, testAPIKey).Token
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	otherKS := newTestKeySet(t, "other-key")
	otherIss, err := token.NewIssuer(otherKS, testIssuer, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	other, err := otherIss.Issue(t.Context(), token.Params{APIKey: testAPIKey})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		raw        string
		wantStatus int
		wantErr    error
	}{
		{"valid", good, http.StatusOK, nil},
		{"expired", expired, http.StatusUnauthorized, token.ErrTokenExpired},
		{"bad signature", tampered, http.StatusUnauthorized, token.ErrTokenSignatureInvalid},
		{"other key set", other.Token, http.StatusUnauthorized, token.ErrTokenUnknownKey},
		{"not a JWT", "abc", http.StatusUnauthorized, token.ErrTokenMalformed},
		{"too large", strings.Repeat("a", token.MaxTokenSize+1), http.StatusUnauthorized, token.ErrTokenTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hookErr error
			r := newTestRouter(ginauth.New(tt.verifier, ginauth.WithErrorHook(func(_ *gin.Context, err error) { hookErr = err })))
			rec := do(t, r, "/protected", "Bearer "+tc.raw)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", rec.Code, tc.wantStatus, rec.Body)
			}
			if !errors.Is(hookErr, tc.wantErr) || (tc.wantErr == nil) != (hookErr == nil) {
				t.Errorf("hook error = %v, want %v", hookErr, tc.wantErr)
			}
			if strings.Contains(rec.Body.String(), tc.raw) || strings.Contains(rec.Body.String(), testAPIKey) {
				t.Error("response body carries the token or the API key")
			}
			if tc.wantErr == nil {
				want := `{"fingerprint":"` + token.Fingerprint(testAPIKey) + `","subject":"alice"}`
				if rec.Body.String() != want {
					t.Errorf("body = %s, want %s", rec.Body, want)
				}
				return
			}
			_, desc := token.Reason(tc.wantErr)
			if body := decodeError(t, rec); body != (errorBody{"invalid_token", desc}) {
				t.Errorf("body = %+v, want invalid_token %q", body, desc)
			}
		})
	}
}

// TestWrappedHandler checks that a plain http.Handler behind the middleware, as
// the reverse proxy is, finds the claims on the request context.
func TestWrappedHandler(t *testing.T) {
	tt := newTestTokens(t)
	raw := tt.mustIssue(t, testAPIKey).Token
	var got token.Claims
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := token.FromContext(r.Context())
		if !ok {
			http.Error(w, "no claims", http.StatusTeapot)
			return
		}
		got = c
		w.WriteHeader(http.StatusNoContent)
	})
	r := gin.New()
	r.Any("/chat/*path", ginauth.New(tt.verifier), gin.WrapH(inner))

	rec := do(t, r, "/chat/completions", "Bearer "+raw)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status = %d, want 204 (body %s)", rec.Code, rec.Body)
	}
	if got.APIKey != testAPIKey || got.Subject != "alice" {
		t.Errorf("inner handler saw subject %q and a different API key", got.Subject)
	}

	got = token.Claims{}
	if rec := do(t, r, "/chat/completions"); rec.Code != http.StatusUnauthorized || got.ID != "" {
		t.Errorf("without a token: status %d, inner handler reached: %v", rec.Code, got.ID != "")
	}
}

func TestAccessorsWithoutMiddleware(t *testing.T) {
	r := gin.New()
	r.GET("/", func(c *gin.Context) {
		_, ok := ginauth.Claims(c)
		_, keyOK := ginauth.APIKey(c)
		c.String(http.StatusOK, "%v %v", ok, keyOK)
	})
	if rec := do(t, r, "/"); rec.Body.String() != "false false" {
		t.Errorf("accessors without middleware = %q, want false false", rec.Body)
	}
	if _, ok := ginauth.Claims(nil); ok {
		t.Error("Claims(nil) reported claims")
	}
}

func TestChainAborted(t *testing.T) {
	reached := false
	r := gin.New()
	r.GET("/", ginauth.New(&fakeVerifier{err: token.ErrTokenExpired}), func(c *gin.Context) {
		reached = true
		c.Status(http.StatusOK)
	})
	rec := do(t, r, "/", "Bearer tok")
	if reached || rec.Code != http.StatusUnauthorized {
		t.Errorf("handler reached = %v, status %d; want not reached, 401", reached, rec.Code)
	}
}

func TestRealms(t *testing.T) {
	fv := &fakeVerifier{err: token.ErrTokenExpired}
	var hookA, hookB int
	r := gin.New()
	a := r.Group("/a", ginauth.New(fv, ginauth.WithRealm("alpha"), ginauth.WithErrorHook(func(*gin.Context, error) { hookA++ })))
	a.GET("", func(c *gin.Context) { c.Status(http.StatusOK) })
	b := r.Group("/b", ginauth.New(fv, ginauth.WithRealm("beta"), ginauth.WithErrorHook(func(*gin.Context, error) { hookB++ })))
	b.GET("", func(c *gin.Context) { c.Status(http.StatusOK) })
	d := r.Group("/d", ginauth.New(fv, ginauth.WithRealm("")))
	d.GET("", func(c *gin.Context) { c.Status(http.StatusOK) })
	q := r.Group("/q", ginauth.New(fv, ginauth.WithRealm("we\"ird\\realm\n")))
	q.GET("", func(c *gin.Context) { c.Status(http.StatusOK) })

	tests := []struct {
		path, auth, want string
	}{
		{"/a", "", `Bearer realm="alpha"`},
		{"/b", "", `Bearer realm="beta"`},
		{"/a", "Bearer x", `Bearer realm="alpha", error="invalid_token", error_description="token is expired"`},
		{"/b", "Bearer x", `Bearer realm="beta", error="invalid_token", error_description="token is expired"`},
		{"/d", "", `Bearer realm="jwtgate"`},
		{"/q", "", `Bearer realm="weirdrealm"`},
	}
	for _, tt := range tests {
		var auth []string
		if tt.auth != "" {
			auth = []string{tt.auth}
		}
		rec := do(t, r, tt.path, auth...)
		if got := rec.Header().Get("WWW-Authenticate"); got != tt.want {
			t.Errorf("%s %q: WWW-Authenticate = %q, want %q", tt.path, tt.auth, got, tt.want)
		}
	}
	if hookA != 2 || hookB != 2 {
		t.Errorf("hooks called %d and %d times, want 2 each", hookA, hookB)
	}
}

func TestErrorHookSeesResponse(t *testing.T) {
	var status int
	r := newTestRouter(ginauth.New(&fakeVerifier{}, ginauth.WithErrorHook(func(c *gin.Context, _ error) {
		status = c.Writer.Status()
	})))
	do(t, r, "/protected")
	if status != http.StatusUnauthorized {
		t.Errorf("hook saw status %d, want 401 (called after the response is written)", status)
	}
}

func TestVerifierGetsRequestContext(t *testing.T) {
	type key struct{}
	var got any
	v := verifierFunc(func(ctx context.Context, _ string) (token.Claims, error) {
		got = ctx.Value(key{})
		return fakeClaims(), nil
	})
	r := newTestRouter(ginauth.New(v))
	req, err := http.NewRequestWithContext(context.WithValue(t.Context(), key{}, "marker"), http.MethodGet, "/protected", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer tok")
	r.ServeHTTP(httptest.NewRecorder(), req)
	if got != "marker" {
		t.Errorf("verifier context value = %v, want the request's", got)
	}
}

// TestClaimsSlot: behind a middleware that derived the request context from a
// token.Slot, the claims go into the slot and the request is not copied; the
// handler and anything holding the outer request's context see them.
func TestClaimsSlot(t *testing.T) {
	fv := &fakeVerifier{claims: fakeClaims()}
	var slot *token.Slot
	var outer *http.Request
	r := gin.New()
	r.Use(func(c *gin.Context) {
		slot = &token.Slot{Context: c.Request.Context()}
		c.Request = c.Request.WithContext(slot)
		outer = c.Request
		c.Next()
	})
	r.GET("/protected", ginauth.New(fv), func(c *gin.Context) {
		if c.Request != outer {
			t.Error("the middleware copied the request although its context has an empty slot")
		}
		claims, ok := ginauth.Claims(c)
		if !ok || claims.ID != "jti" {
			t.Errorf("Claims = %v, %v", claims, ok)
		}
		c.Status(http.StatusNoContent)
	})
	rec := do(t, r, "/protected", "Bearer tok")
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if got, ok := token.FromContext(slot); !ok || got.SessionID != "sid" {
		t.Fatalf("the slot holds %v, %v", got, ok)
	}
}
