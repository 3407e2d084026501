package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/jwtgate/jwtgate/pkg/config"
)

// newLogger returns the logger described by l, writing to w: JSON lines by default,
// logfmt-style text with log.format "text".
func newLogger(w io.Writer, l config.Log) (*slog.Logger, error) {
	level, err := parseLevel(l.Level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: readableDurations}
	switch strings.ToLower(l.Format) {
	case "", "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("log.format: must be json or text, got %q", l.Format)
	}
}

// newCLILogger is newLogger for the one-shot commands (token, keys): they print
// their result on stdout, so only warnings and errors reach stderr unless
// log.level asks for debug.
func newCLILogger(w io.Writer, l config.Log) (*slog.Logger, error) {
	level, err := parseLevel(l.Level)
	if err != nil {
		return nil, err
	}
	if level > slog.LevelDebug && level < slog.LevelWarn {
		l.Level = "warn"
	}
	return newLogger(w, l)
}

func parseLevel(s string) (slog.Level, error) {
	if s == "" {
		return slog.LevelInfo, nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log.level: must be debug, info, warn or error, got %q", s)
	}
	return level, nil
}

// readableDurations logs durations as "15m0s" rather than JSON's integer nanoseconds.
//
// It also hands the record's level over as its name, the text it is logged as
// anyway: with a ReplaceAttr set, slog passes the level to the JSON handler as
// a slog.Level value, which that handler encodes through encoding/json (its
// MarshalJSON), a tenth of the cost of a whole access line.
func readableDurations(groups []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindDuration:
		return slog.String(a.Key, a.Value.Duration().String())
	case slog.KindAny:
		if l, ok := a.Value.Any().(slog.Level); ok && len(groups) == 0 && a.Key == slog.LevelKey {
			return slog.String(a.Key, l.String())
		}
	}
	return a
}
