package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jwtgate/jwtgate/pkg/token"
)

// jwksDoc is a JWKS document marshalled for one key set.
type jwksDoc struct {
	keys *token.KeySet
	body []byte
}

// newJWKSDoc marshals the public keys of ks; a nil set has none.
func newJWKSDoc(ks *token.KeySet) (*jwksDoc, error) {
	if ks == nil {
		return &jwksDoc{body: []byte(`{"keys":[]}`)}, nil
	}
	body, err := ks.JWKS()
	if err != nil {
		return nil, err
	}
	return &jwksDoc{keys: ks, body: body}, nil
}

// handleJWKS serves GET /.well-known/jwks.json: the public keys of the key set in
// force ({"keys": []} when it holds only HMAC keys, whose secrets never leave).
// The document is marshalled once per key set, when it is loaded; maxAge sets
// Cache-Control (other services cache the document that long).
func handleJWKS(cur func() *live, maxAge time.Duration) gin.HandlerFunc {
	cacheControl := "public, max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
	return func(c *gin.Context) {
		c.Header("Cache-Control", cacheControl)
		c.Data(http.StatusOK, contentTypeJSON, cur().jwks.body)
	}
}
