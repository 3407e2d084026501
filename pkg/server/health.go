package server

import (
	"net/http"
	"sync/atomic"

	"github.com/gin-gonic/gin"
)

type healthResponse struct {
	Status  string `json:"status"`
	Version string `json:"version,omitempty"`
}

// handleHealthz serves GET /healthz: 200 while the process can answer at all.
func handleHealthz(version string) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		respondJSON(c, http.StatusOK, healthResponse{Status: "ok", Version: version})
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
