package server

import (
	"log/slog"

	"github.com/gin-gonic/gin"
)

// newChatHandler returns the handler for /chat/*path: the reverse proxy to
// cfg.UpstreamURL, or the built-in echo backend when none is configured.
func newChatHandler(cfg ChatConfig, logger *slog.Logger) (gin.HandlerFunc, error) {
	if cfg.UpstreamURL != nil {
		return newChatProxy(cfg, logger)
	}
	return handleEcho(cfg), nil
}
