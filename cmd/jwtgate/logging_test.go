package main

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/pkg/config"
)

// TestLoggerLevelUnchanged checks that handing the level to the handler as its
// name (readableDurations) writes the same lines as slog's own encoding of the
// level, in both formats, for the standard levels and one between them, and
// leaves a Level value that is not the record's level alone.
func TestLoggerLevelUnchanged(t *testing.T) {
	durationsOnly := func(_ []string, a slog.Attr) slog.Attr {
		if a.Value.Kind() == slog.KindDuration {
			return slog.String(a.Key, a.Value.Duration().String())
		}
		return a
	}
	at := time.Date(2026, 11, 26, 11, 27, 2, 850243964, time.UTC)
	for _, format := range []string{"json", "text"} {
		for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError, slog.LevelInfo + 2} {
			var got, want bytes.Buffer
			logger, err := newLogger(&got, config.Log{Level: "debug", Format: format})
			if err != nil {
				t.Fatal(err)
			}
			opts := &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: durationsOnly}
			ref := slog.Handler(slog.NewJSONHandler(&want, opts))
			if format == "text" {
				ref = slog.NewTextHandler(&want, opts)
			}
			for _, h := range []slog.Handler{logger.Handler(), ref} {
				r := slog.NewRecord(at, level, "request", 0)
				r.AddAttrs(slog.Duration("latency", 183463*time.Nanosecond),
					slog.Any("level", slog.LevelWarn), // an attribute, not the record's level
					slog.Group("g", slog.Any(slog.LevelKey, slog.LevelError)))
				if err := h.Handle(context.Background(), r); err != nil {
					t.Fatal(err)
				}
			}
			if got.String() != want.String() {
				t.Errorf("%s, level %v:\n got %s\nwant %s", format, level, got.String(), want.String())
			}
		}
	}
}
