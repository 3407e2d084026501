package server

import (
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json"

	"github.com/jwtgate/jwtgate/pkg/meter"
)

type healthResponse struct {
	Status  string `json:"status"`
	Version string `json:"version,omitempty"`
	// Limits is where /readyz's replica keeps the session counters: "local",
	// "shared" (Redis) or "fallback" (Redis unreachable).
	Limits string `json:"limits,omitempty"`
}

// handleHealthz serves GET /healthz: 200 while the process can answer at all.
// The answer never changes, so it is encoded once.
func handleHealthz(version string) gin.HandlerFunc {
	body := constantJSON(healthResponse{Status: "ok", Version: strings.ToValidUTF8(version, "?")})
	return func(c *gin.Context) {
		setHeader(c.Writer.Header(), "Cache-Control", "no-store")
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
// The body says where the session counters are (counters): a replica whose
// Redis is unreachable still takes traffic, on its own counters, and says
// "fallback".
func handleReadyz(ready *atomic.Bool, counters func() meter.State) gin.HandlerFunc {
	var bodies [3][]byte
	for _, s := range []meter.State{meter.StateLocal, meter.StateShared, meter.StateFallback} {
		bodies[s] = constantJSON(healthResponse{Status: "ready", Limits: s.String()})
	}
	return func(c *gin.Context) {
		readyBody := bodies[meter.StateLocal]
		if s := counters(); int(s) < len(bodies) {
			readyBody = bodies[s]
		}
		if !ready.Load() {
			respondError(c, &apiError{status: http.StatusServiceUnavailable, code: codeNotReady,
				desc: "the server is not ready to take requests"})
			return
		}
		c.Header("Cache-Control", "no-store")
		writeJSONBytes(c.Writer, http.StatusOK, readyBody)
	}
}
