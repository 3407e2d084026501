package ginauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gin-gonic/gin"
	"github.com/jwtgate/jwtgate/pkg/ginauth"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// Example mounts the middleware on a route group: every route in /api needs a
// bearer token, and the handlers read the verified claims and API key.
func Example() {
	key, err := token.NewHMACKey("example", token.HS256, []byte("an example secret, at least 32 bytes long"))
	if err != nil {
		panic(err)
	}
	keys, err := token.NewKeySet("", []*token.Key{key})
	if err != nil {
		panic(err)
	}
	issuer, err := token.NewIssuer(keys, "jwtgate", "jwtgate")
	if err != nil {
		panic(err)
	}
	verifier, err := token.NewVerifier(keys, "jwtgate", "jwtgate")
	if err != nil {
		panic(err)
	}

	r := gin.New()
	api := r.Group("/api", ginauth.New(verifier))
	api.GET("/whoami", func(c *gin.Context) {
		claims, _ := ginauth.Claims(c)
		apiKey, _ := ginauth.APIKey(c) // forward it upstream; never log it
		c.String(http.StatusOK, "hello %s (key %s)", claims.Subject, token.Fingerprint(apiKey))
	})

	get := func(authorization string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/api/whoami", nil)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec
	}

	rec := get("")
	fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"))

	rec = get("Bearer not-a-token")
	fmt.Println(rec.Code, rec.Body.String())

	issued, err := issuer.Issue(context.Background(), token.Params{APIKey: "sk-example", Subject: "alice"})
	if err != nil {
		panic(err)
	}
	rec = get("Bearer " + issued.Token)
	fmt.Println(rec.Code, rec.Body.String())

	// Output:
	// 401 Bearer realm="jwtgate"
	// 401 {"error":"invalid_token","error_description":"token is malformed"}
	// 200 hello alice (key f2d4b279b82ad928)
}
