// Command jwtgate is a stateless session-token service for chat front ends: it trades
// an API key for a short-lived JWT and forwards chat calls made with that token.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"
)

func main() {
	// gin's debug mode lists routes and warnings on stdout; the server logs
	// through slog instead. SetMode is process-wide, so it is set here, once.
	gin.SetMode(gin.ReleaseMode)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handling: a second one ends the
	// process at once instead of waiting out the graceful shutdown.
	context.AfterFunc(ctx, stop)
	err := NewRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		os.Exit(1)
	}
}
