package ginauth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/jwtgate/jwtgate/pkg/ginauth"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// benchRoute serves GET /r through engine and reports allocations. The handler
// writes a small fixed body, like a cheap real route would.
func benchRoute(b *testing.B, engine *gin.Engine, bearer string) {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, "/r", nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		engine.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

func benchEngine(mw ...gin.HandlerFunc) *gin.Engine {
	r := gin.New()
	handlers := append(mw, func(c *gin.Context) { c.Data(http.StatusOK, "application/json", []byte(`{"ok":true}`)) })
	r.GET("/r", handlers...)
	return r
}

// BenchmarkRoute compares one cheap route without the middleware (the baseline,
// route=unprotected), behind it with full verification of a sealed token on every
// request (route=protected), and behind it with the verified-token cache on, as
// jwtgate runs by default (route=protected-cached): `benchstat -col /route`.
func BenchmarkRoute(b *testing.B) {
	tt := newTestTokens(b)
	tok, err := tt.issuer.Issue(b.Context(), token.Params{APIKey: testAPIKey})
	if err != nil {
		b.Fatal(err)
	}
	cached, err := token.NewVerifier(tt.keys, testIssuer, testAudience, token.WithCache(token.DefaultCacheSize))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("route=unprotected", func(b *testing.B) { benchRoute(b, benchEngine(), "") })
	b.Run("route=protected", func(b *testing.B) { benchRoute(b, benchEngine(ginauth.New(tt.verifier)), tok.Token) })
	b.Run("route=protected-cached", func(b *testing.B) { benchRoute(b, benchEngine(ginauth.New(cached)), tok.Token) })
}
