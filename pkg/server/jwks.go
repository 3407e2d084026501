package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jwtgate/jwtgate/pkg/token"
)

// newJWKSDoc marshals the public keys of ks; a nil set has none.
func newJWKSDoc(ks *token.KeySet) ([]byte, error) {
	if ks == nil {
		return []byte(`{"keys":[]}`), nil
	}
	return ks.JWKS()
}

// handleJWKS serves GET /.well-known/jwks.json: the public keys of the key set in
// force ({"keys": []} when it holds only HMAC keys, whose secrets never leave).
// The document is marshalled once per key set, when it is loaded; maxAge sets
// Cache-Control (other services cache the document that long).
func handleJWKS(cur func() *live, maxAge time.Duration) gin.HandlerFunc {
	cacheControl := "public, max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
	return func(c *gin.Context) {
		c.Header("Cache-Control", cacheControl)
		writeJSONBytes(c.Writer, http.StatusOK, cur().jwks)
	}
}
