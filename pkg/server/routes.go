package server

import (
	"log/slog"
	"sync/atomic"

	"github.com/gin-gonic/gin"

	"github.com/jwtgate/jwtgate/pkg/meter"
)

// routeDeps is everything the handlers are built from; [New] assembles it.
type routeDeps struct {
	version  string
	ready    *atomic.Bool
	counters func() meter.State // where the session counters are, for /readyz
	logger   *slog.Logger
	metrics  gin.HandlerFunc // GET /metrics; nil: not on this handler
	jwks     gin.HandlerFunc
	sessions sessionDeps
	limit    gin.HandlerFunc // rate limit for POST /sessions; nil: none
	// refreshLimit is the per-session rate limit of POST /sessions/refresh; nil: none.
	refreshLimit gin.HandlerFunc
	auth         gin.HandlerFunc // the bearer-token middleware of /sessions/*
	chatAuth     gin.HandlerFunc // the same for /chat/*, answering in the OpenAI error shape
	limits       gin.HandlerFunc // the session's limits on /chat/*
	count        gin.HandlerFunc // the session's counted limits on /chat/*, and usage
	chat         gin.HandlerFunc // reverse proxy or echo backend
}

// addRoutes is jwtgate's whole HTTP API surface (docs/DESIGN.md, "HTTP contract").
func addRoutes(r *gin.Engine, d routeDeps) {
	r.GET("/healthz", handleHealthz(d.version))
	r.GET("/readyz", handleReadyz(d.ready, d.counters))
	if d.metrics != nil {
		r.GET("/metrics", d.metrics)
	}
	r.GET("/.well-known/jwks.json", d.jwks)

	create := []gin.HandlerFunc{handleCreateSession(d.sessions)}
	if d.limit != nil {
		create = append([]gin.HandlerFunc{d.limit}, create...)
	}
	r.POST("/sessions", create...)

	r.GET("/sessions/current", d.auth, handleCurrentSession(d.logger))
	refresh := []gin.HandlerFunc{d.auth, handleRefreshSession(d.sessions)}
	if d.refreshLimit != nil {
		// Behind the middleware: the limit is keyed by the verified session.
		refresh = []gin.HandlerFunc{d.auth, d.refreshLimit, refresh[1]}
	}
	r.POST("/sessions/refresh", refresh...)
	// The session's limits apply to verified requests only, and before anything
	// is forwarded or answered (proxy and echo backend alike). Counting comes
	// after the checks, so that a request they refuse is not counted.
	r.Any("/chat/*path", d.chatAuth, d.limits, d.count, d.chat)
}
