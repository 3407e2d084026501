package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/jwtgate/jwtgate/pkg/config"
	"github.com/jwtgate/jwtgate/pkg/meter"
)

// newMeter builds the session counters of limits.*: local, bounded by
// limits.max_sessions, or shared through limits.redis_url. A Redis that does
// not answer never stops start-up: the meter starts on local counters, says so
// in the log, and goes back to Redis by itself. A Redis concurrency slot held
// by a replica that dies lapses after chat.max_stream_duration, the longest a
// request may run.
//
// With Redis, go-redis's own log lines (printed to stderr by default, outside
// the JSON log) go to logger at debug level, with their format text only: their
// arguments are errors whose text jwtgate does not control. The meter logs
// every outage and recovery itself, in words that cannot carry the password.
// go-redis's logger is process-wide; serve runs once per process.
func newMeter(cfg config.Config, logger *slog.Logger) (*meter.Meter, error) {
	opts := []meter.Option{meter.WithCapacity(cfg.Limits.MaxSessions), meter.WithLogger(logger)}
	if cfg.Chat.MaxStreamDuration > 0 {
		opts = append(opts, meter.WithLeaseTTL(cfg.Chat.MaxStreamDuration))
	}
	if cfg.Limits.RedisURL != "" {
		redis.SetLogger(redisLogger{logger})
		opts = append(opts, meter.WithRedis(string(cfg.Limits.RedisURL)))
	}
	m, err := meter.New(opts...)
	if err != nil {
		// meter's errors never quote the URL.
		return nil, fmt.Errorf("limits: %w", err)
	}
	return m, nil
}

// redisLogger takes go-redis's log lines (see newMeter).
type redisLogger struct{ logger *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, _ ...any) {
	l.logger.LogAttrs(ctx, slog.LevelDebug, "redis client", slog.String("detail", format))
}
