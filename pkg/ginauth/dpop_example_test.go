package ginauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/jwtgate/jwtgate/pkg/dpop"
	"github.com/jwtgate/jwtgate/pkg/dpop/dpoptest"
	"github.com/jwtgate/jwtgate/pkg/ginauth"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// A route that accepts DPoP-bound tokens: the token must come as
// "Authorization: DPoP" with a proof by its key for this request; as a bearer
// token it is refused.
func ExampleWithDPoP() {
	key, _ := token.NewHMACKey("k1", token.HS256, []byte("an example secret of 32 bytes or more"))
	ks, _ := token.NewKeySet("", []*token.Key{key})
	iss, _ := token.NewIssuer(ks, "example", "example")
	ver, _ := token.NewVerifier(ks, "example", "example")
	proofs, _ := dpop.NewVerifier()

	client, _ := dpoptest.NewES256() // in a browser: a non-extractable WebCrypto key
	issued, _ := iss.Issue(context.Background(), token.Params{APIKey: "sk-example", JKT: client.JKT()})

	r := gin.New()
	r.GET("/chat/models", ginauth.New(ver, ginauth.WithDPoP(proofs)), func(c *gin.Context) {
		c.String(http.StatusOK, "ok")
	})
	send := func(header http.Header) {
		req := httptest.NewRequest(http.MethodGet, "http://gw.example/chat/models", nil)
		req.Header = header
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		fmt.Println(strings.TrimSpace(fmt.Sprint(rec.Code, " ", rec.Header().Get("WWW-Authenticate"))))
	}
	proof, _ := client.Proof(dpoptest.Claims{HTM: "GET", HTU: "http://gw.example/chat/models", AccessToken: issued.Token})
	send(http.Header{"Authorization": {"DPoP " + issued.Token}, "Dpop": {proof}})
	send(http.Header{"Authorization": {"Bearer " + issued.Token}})
	// Output:
	// 200
	// 401 DPoP realm="jwtgate", error="invalid_token", error_description="the token is bound to a DPoP key: present it with the DPoP scheme and a DPoP proof", algs="ES256 EdDSA RS256"
}
