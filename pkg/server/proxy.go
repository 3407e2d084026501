package server

import (
	"errors"
	"log/slog"

	"github.com/gin-gonic/gin"
)

// newChatProxy returns the handler for /chat/*path that forwards to cfg.UpstreamURL.
// (Stub: being written.)
func newChatProxy(cfg ChatConfig, logger *slog.Logger) (gin.HandlerFunc, error) {
	return nil, errors.New("chat proxy: not implemented yet")
}
