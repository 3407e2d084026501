package server

import (
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json"
)

type healthResponse struct {
	Status  string `json:"status"`
	Version string `json:"version,omitempty"`
}

// handleHealthz serves GET /healthz: 200 while the process can answer at all.
// The answer never changes, so it is encoded once.
func handleHealthz(version string) gin.HandlerFunc {
	body := constantJSON(healthResponse{Status: "ok", Version: strings.ToValidUTF8(version, "?")})
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		writeJSONBytes(c.Writer, http.StatusOK, body)
	}
}

// constantJSON encodes a fixed answer once, at start-up. Its strings are valid
// UTF-8, so encoding cannot fail.
func constantJSON(v healthResponse) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{"status":"` + v.Status + `"}`)
	}
	return b
}

// handleReadyz serves GET /readyz: 200 while ready is set, 503 otherwise (the
// binary clears it when shutdown starts, so load balancers stop sending traffic).
func handleReadyz(ready *atomic.Bool) gin.HandlerFunc {
	readyBody := constantJSON(healthResponse{Status: "ready"})
	return func(c *gin.Context) {
		if !ready.Load() {
			respondError(c, &apiError{status: http.StatusServiceUnavailable, code: codeNotReady,
				desc: "the server is not ready to take requests"})
			return
		}
		c.Header("Cache-Control", "no-store")
		writeJSONBytes(c.Writer, http.StatusOK, readyBody)
	}
}
