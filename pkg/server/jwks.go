package server

import (
	"log/slog"
	"net/http"
	"sync/atomic"

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

// handleJWKS serves GET /.well-known/jwks.json: the public keys of the verifier's
// key set ({"keys": []} when it holds only HMAC keys, whose secrets never leave).
// The document is marshalled once per key set, here for the current one and
// again only if the verifier ever hands out another.
func handleJWKS(v Verifier, logger *slog.Logger) (gin.HandlerFunc, error) {
	first, err := newJWKSDoc(v.KeySet())
	if err != nil {
		return nil, err
	}
	var cur atomic.Pointer[jwksDoc]
	cur.Store(first)
	return func(c *gin.Context) {
		doc := cur.Load()
		if ks := v.KeySet(); ks != doc.keys {
			next, err := newJWKSDoc(ks)
			if err != nil {
				logger.LogAttrs(c.Request.Context(), slog.LevelError, "encoding the JWKS failed", slog.String("error", err.Error()))
				respondError(c, &apiError{status: http.StatusInternalServerError, code: codeInternal, desc: "internal error"})
				return
			}
			cur.Store(next)
			doc = next
		}
		c.Header("Cache-Control", "public, max-age=300")
		c.Data(http.StatusOK, contentTypeJSON, doc.body)
	}, nil
}
