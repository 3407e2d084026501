package server

import (
	"net/http"
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
	body, err := json.Marshal(healthResponse{Status: "ok", Version: version})
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		if err != nil { // a version that is not valid UTF-8; encode as usual
			respondJSON(c, http.StatusOK, healthResponse{Status: "ok", Version: version})
			return
		}
		writeJSONBytes(c.Writer, http.StatusOK, body)
	}
}

// handleReadyz serves GET /readyz: 200 while ready is set, 503 otherwise (the
// binary clears it when shutdown starts, so load balancers stop sending traffic).
func handleReadyz(ready *atomic.Bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !ready.Load() {
			respondError(c, &apiError{status: http.StatusServiceUnavailable, code: codeNotReady,
				desc: "the server is not ready to take requests"})
			return
		}
		c.Header("Cache-Control", "no-store")
		respondJSON(c, http.StatusOK, healthResponse{Status: "ready"})
	}
}
