package server

import (
	"log/slog"

	"github.com/gin-gonic/gin"
)

// newChatHandler returns the handler for /chat/*path: the reverse proxy to
// cfg.UpstreamURL, reporting to m, or the built-in echo backend when none is
// configured.
func newChatHandler(cfg ChatConfig, logger *slog.Logger, m *upstreamMetrics) (gin.HandlerFunc, error) {
	if cfg.UpstreamURL != nil {
		return newChatProxy(cfg, logger, m)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return refuseEchoUpgrade(handleEcho(cfg, logger)), nil
}
