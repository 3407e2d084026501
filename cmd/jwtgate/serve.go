package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/jwtgate/jwtgate/pkg/config"
	"github.com/jwtgate/jwtgate/pkg/server"
)

func newServeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP server",
		Long: `Run the HTTP server until SIGINT or SIGTERM, then stop taking new
connections and let in-flight requests finish within server.shutdown_timeout.

Without jwt.secret, jwt.secret_file or jwt.keys the server signs with a random
in-memory key: tokens then die with the process and no other replica accepts them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags())
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, cmd.ErrOrStderr())
		},
	}
	config.RegisterFlags(cmd.Flags())
	return cmd
}

// serve runs the server for cfg until ctx is done, logging to logw.
func serve(ctx context.Context, cfg config.Config, logw io.Writer) error {
	logger, err := newLogger(logw, cfg.Log)
	if err != nil {
		return err
	}
	// Config.LogValue masks every secret and shows api_keys.allowed as a count.
	logger.Info("starting jwtgate", slog.String("version", version), slog.Any("config", cfg))

	_, iss, ver, err := buildTokens(cfg, logger)
	if err != nil {
		return err
	}
	srv, err := server.New(serverConfig(cfg), server.Deps{
		Issuer:   iss,
		Verifier: ver,
		Logger:   logger,
	})
	if err != nil {
		return fmt.Errorf("building the server: %w", err)
	}

	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    cfg.Server.MaxHeaderBytes,
		// No WriteTimeout: chat responses stream for as long as the backend talks;
		// the proxy bounds them with chat.idle_timeout and chat.max_stream_duration.
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	// Listen before serving so the actual address (port 0 picks a free one) is known
	// and logged, and a taken port fails start-up here.
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("server.addr: %w", err)
	}
	logger.Info("listening", slog.String("addr", ln.Addr().String()))

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	srv.SetReady(true)

	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}

	// The signal context is already cancelled: shutdown gets a fresh one.
	logger.Info("shutting down", slog.Duration("timeout", cfg.Server.ShutdownTimeout))
	srv.SetReady(false)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		closeErr := hs.Close()
		return fmt.Errorf("shutting down: %w", errors.Join(err, closeErr))
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// serverConfig hands the server the plain values it needs from cfg.
func serverConfig(cfg config.Config) server.Config {
	allowed := make([]string, 0, len(cfg.APIKeys.Allowed))
	for _, k := range cfg.APIKeys.Allowed {
		allowed = append(allowed, string(k))
	}
	c := cfg.Chat
	return server.Config{
		MaxBodyBytes:      cfg.Server.MaxBodyBytes,
		AllowedAPIKeys:    allowed,
		SessionsPerMinute: cfg.RateLimit.SessionsPerMinute,
		Burst:             cfg.RateLimit.Burst,
		Chat: server.ChatConfig{
			UpstreamURL:           c.UpstreamURL,
			AuthHeader:            c.UpstreamAuthHeader,
			AuthScheme:            c.UpstreamAuthScheme,
			EchoDelay:             c.EchoDelay,
			ConnectTimeout:        c.ConnectTimeout,
			ResponseHeaderTimeout: c.ResponseHeaderTimeout,
			IdleTimeout:           c.IdleTimeout,
			MaxStreamDuration:     c.MaxStreamDuration,
			MaxBodyBytes:          c.MaxBodyBytes,
			AllowedPaths:          c.AllowedPaths,
			AllowSetCookie:        c.AllowSetCookie,
		},
	}
}
