package ginauth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jwtgate/jwtgate/pkg/ginauth"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// exampleSecret is the HMAC secret of the examples; a real one comes from a secret
// store and is at least 32 random bytes.
var exampleSecret = []byte("an example secret, at least 32 bytes long")

// exampleDo sends one request to r and returns the recorded answer.
func exampleDo(r http.Handler, method, path, header, value string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	if header != "" {
		req.Header.Set(header, value)
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	return rec
}

// Example is a gin app that issues its own tokens: POST /login trades an API key
// for a session token, and every route in /api needs one. The handlers read the
// verified claims and the API key (opened from the sealed claim).
func Example() {
	key, err := token.NewHMACKey("example", token.HS256, exampleSecret)
	if err != nil {
		panic(err)
	}
	keys, err := token.NewKeySet("", []*token.Key{key})
	if err != nil {
		panic(err)
	}
	// WithMaxTTL concerns both sides: the issuer caps lifetimes at it, and the
	// verifier refuses tokens living longer.
	maxTTL := token.WithMaxTTL(30 * time.Minute)
	issuer, err := token.NewIssuer(keys, "my-app", "my-app", maxTTL, token.WithTTL(10*time.Minute))
	if err != nil {
		panic(err)
	}
	verifier, err := token.NewVerifier(keys, "my-app", "my-app", maxTTL)
	if err != nil {
		panic(err)
	}

	r := gin.New()
	r.POST("/login", func(c *gin.Context) {
		issued, err := issuer.Issue(c.Request.Context(), token.Params{APIKey: c.GetHeader("X-API-Key"), Subject: "alice"})
		if err != nil { // token.ErrAPIKeyInvalid for a key of the wrong shape
			c.JSON(http.StatusBadRequest, gin.H{"error": "invalid_request"})
			return
		}
		c.JSON(http.StatusCreated, gin.H{"access_token": issued.Token, "expires_in": int(issued.Claims.ExpiresAt.Sub(issued.Claims.IssuedAt).Seconds())})
	})
	api := r.Group("/api", ginauth.New(verifier))
	api.GET("/whoami", func(c *gin.Context) {
		claims, _ := ginauth.Claims(c)
		apiKey, _ := ginauth.APIKey(c) // forward it upstream; never log it
		c.String(http.StatusOK, "hello %s (key %s, %d characters)", claims.Subject, claims.APIKeyFingerprint, len(apiKey))
	})

	rec := exampleDo(r, http.MethodGet, "/api/whoami", "", "")
	fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"))

	rec = exampleDo(r, http.MethodGet, "/api/whoami", "Authorization", "Bearer not-a-token")
	fmt.Println(rec.Code, rec.Body.String())

	rec = exampleDo(r, http.MethodPost, "/login", "X-API-Key", "sk-example")
	var login struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &login); err != nil {
		panic(err)
	}
	fmt.Println(rec.Code, login.ExpiresIn)

	rec = exampleDo(r, http.MethodGet, "/api/whoami", "Authorization", "Bearer "+login.AccessToken)
	fmt.Println(rec.Code, rec.Body.String())

	// Output:
	// 401 Bearer realm="jwtgate"
	// 401 {"error":"invalid_token","error_description":"token is malformed"}
	// 201 600
	// 200 hello alice (key 1a660dabef8066d9, 10 characters)
}

// Example_verifyOnly is a gin app that only verifies: the tokens come from jwtgate
// (or another service holding the keys), and the app holds the same key set and
// settings (jwt.keys or jwt.secret, jwt.seal_secret, jwt.issuer, jwt.audience,
// jwt.max_ttl) but no issuer. It serves its own routes with the user's API key,
// which the token carries sealed.
func Example_verifyOnly() {
	tok := tokenFromJwtgate()

	key, err := token.NewHMACKey("2026-11", token.HS256, exampleSecret)
	if err != nil {
		panic(err)
	}
	keys, err := token.NewKeySet("2026-11", []*token.Key{key})
	if err != nil {
		panic(err)
	}
	verifier, err := token.NewVerifier(keys, "jwtgate", "jwtgate",
		token.WithMaxTTL(time.Hour), // jwtgate's jwt.max_ttl
		token.WithCache(token.DefaultCacheSize),
	)
	if err != nil {
		panic(err)
	}

	r := gin.New()
	r.Use(ginauth.New(verifier, ginauth.WithRealm("my-service")))
	r.GET("/quota", func(c *gin.Context) {
		claims, _ := ginauth.Claims(c)
		apiKey, _ := ginauth.APIKey(c)
		c.String(http.StatusOK, "%s: looking up the quota of a key starting %q", claims.Subject, apiKey[:3])
	})

	fmt.Println(exampleDo(r, http.MethodGet, "/quota", "Authorization", "Bearer "+tok).Body.String())

	tampered := tok[:len(tok)-4] + strings.Repeat("A", 4)
	rec := exampleDo(r, http.MethodGet, "/quota", "Authorization", "Bearer "+tampered)
	fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"))

	// Output:
	// cli-user: looking up the quota of a key starting "sk-"
	// 401 Bearer realm="my-service", error="invalid_token", error_description="token signature is invalid"
}

// tokenFromJwtgate stands in for the jwtgate server (or `jwtgate token issue`) in
// Example_verifyOnly: it issues a token with the key set jwtgate would have.
func tokenFromJwtgate() string {
	key, err := token.NewHMACKey("2026-11", token.HS256, exampleSecret)
	if err != nil {
		panic(err)
	}
	keys, err := token.NewKeySet("2026-11", []*token.Key{key})
	if err != nil {
		panic(err)
	}
	issuer, err := token.NewIssuer(keys, "jwtgate", "jwtgate")
	if err != nil {
		panic(err)
	}
	issued, err := issuer.Issue(context.Background(), token.Params{APIKey: "sk-the-users-key", Subject: "cli-user"})
	if err != nil {
		panic(err)
	}
	return issued.Token
}
