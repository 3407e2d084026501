package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/pkg/config"
)

// BenchmarkAccessLine writes a typical access line (the attributes the server's
// access log has, a request id among them) through the binary's logger for each
// log.format, to io.Discard: the encoding's cost, without the write.
func BenchmarkAccessLine(b *testing.B) {
	for _, format := range []string{"json", "text"} {
		b.Run("format="+format, func(b *testing.B) {
			logger, err := newLogger(io.Discard, config.Log{Level: "info", Format: format})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				logger.LogAttrs(ctx, slog.LevelInfo, "request",
					slog.String("method", "POST"),
					slog.String("route", "/chat/*path"),
					slog.Int("status", 200),
					slog.Duration("latency", 183463*time.Nanosecond),
					slog.Int("bytes", 249),
					slog.String("api_key_fingerprint", "581d86c3c49e76bb"),
					slog.String("request_id", "5f2c0e4b9a7d3e1f0c8b6a4d2e0f1a3b"))
			}
		})
	}
}
