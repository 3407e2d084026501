package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
in-memory key: tokens then die with the process and no other replica accepts them.

With server.tls_cert_file and server.tls_key_file the server speaks HTTPS.

SIGHUP, or a change to the configuration file or to a secret, key or certificate
file it names (checked every 2s), reloads the configuration without dropping a
connection: the signing and verification keys (jwt.*), api_keys.allowed, dpop.*
(but dpop.replay_cache_size) and the TLS certificate files take effect for new
requests; other settings need a restart. An invalid new configuration is refused with a log line naming the
problem, and the running one stays in force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reload := make(chan os.Signal, 1)
			signal.Notify(reload, syscall.SIGHUP)
			defer signal.Stop(reload)
			// A change to the configuration file or a file it names reloads too.
			watch := newFileWatcher(config.Path(cmd.Flags()))
			load := func() (config.Config, error) { return config.Load(cmd.Flags()) }
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			go watch.run(ctx, watchInterval, reload)
			return serve(ctx, load, cmd.ErrOrStderr(), reload, watch)
		},
	}
	config.RegisterFlags(cmd.Flags())
	return cmd
}

// serve runs the server for the configuration load returns until ctx is done,
// logging to logw. Each value received on reload (SIGHUP in the binary; nil: never)
// calls load again and applies what can change at run time (see [reloader]). It
// returns nil after a clean shutdown.
//
// watch, when not nil, is pointed at the files of the configuration in force: at
// start and after each reload that is applied (a refused one leaves it as it was),
// with the baseline of each file taken before it was read (see fileWatcher.load).
func serve(ctx context.Context, load func() (config.Config, error), logw io.Writer, reload <-chan os.Signal, watch *fileWatcher) error {
	cfg, base, err := watch.load(load)
	if err != nil {
		return err
	}
	if err := checkConfig(cfg); err != nil {
		return err
	}
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
	reg := prometheus.NewRegistry()
	sc := serverConfig(cfg)
	if sc.Limits, err = sessionLimits(cfg); err != nil {
		return err
	}
	nonceRandom := newRandomNonceSecret()
	if sc.DPoP, err = dpopConfig(cfg, nonceRandom); err != nil {
		return err
	}
	counters, err := newMeter(cfg, logger)
	if err != nil {
		return err
	}
	// Closed once the servers are done: requests in flight are charged first.
	defer counters.Close()
	srv, err := server.New(sc, server.Deps{
		Issuer:   iss,
		Verifier: ver,
		Logger:   logger,
		Registry: reg,
		Version:  version,
		Meter:    counters,
	})
	if err != nil {
		return fmt.Errorf("building the server: %w", err)
	}

	var certs *certReloader
	if cfg.Server.TLSCertFile != "" {
		if certs, err = newCertReloader(cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile); err != nil {
			return err
		}
	}

	errorLog := slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	public := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    cfg.Server.MaxHeaderBytes,
		// No WriteTimeout: chat responses stream for as long as the backend talks;
		// the proxy bounds them with chat.idle_timeout and chat.max_stream_duration.
		ErrorLog: errorLog,
	}
	if certs != nil {
		public.TLSConfig = certs.tlsConfig()
	}

	// Listen before serving, so the actual address (port 0 picks a free one) is
	// known and logged, and a taken port fails start-up here.
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("server.addr: %w", err)
	}
	running := []*http.Server{public}
	errc := make(chan error, 2)
	if cfg.Metrics.Enabled && cfg.Metrics.Addr != "" {
		mln, err := net.Listen("tcp", cfg.Metrics.Addr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("metrics.addr: %w", err)
		}
		ms := newMetricsServer(cfg.Server, reg, errorLog)
		running = append(running, ms)
		logger.Info("metrics listening", slog.String("addr", mln.Addr().String()))
		go func() { errc <- ms.Serve(mln) }()
	}
	logger.Info("listening", slog.String("addr", ln.Addr().String()), slog.Bool("tls", certs != nil))
	go func() {
		if certs != nil {
			errc <- public.ServeTLS(ln, "", "")
			return
		}
		errc <- public.Serve(ln)
	}()
	srv.SetReady(true)

	watch.follow(cfg, base)
	rl := &reloader{load: load, logger: logger, srv: srv, certs: certs, watch: watch, iss: iss, ver: ver, source: configuredKeySource(cfg),
		nonceRandom: nonceRandom}
	for done := false; !done; {
		select {
		case err := <-errc:
			closeAll(running)
			return fmt.Errorf("serving: %w", err)
		case <-reload:
			rl.reload()
		case <-ctx.Done():
			done = true
		}
	}

	logger.Info("shutting down", slog.Duration("timeout", cfg.Server.ShutdownTimeout))
	srv.SetReady(false)
	if err := shutdown(running, errc, cfg.Server.ShutdownTimeout); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// newMetricsServer serves /metrics alone, for metrics.addr. It speaks plain HTTP
// (the metrics port is meant for an internal network) and, unlike the public
// server, bounds writes: a scrape is never a stream.
func newMetricsServer(sc config.Server, reg *prometheus.Registry, errorLog *log.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: errorLog}))
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: sc.ReadHeaderTimeout,
		ReadTimeout:       sc.ReadTimeout,
		WriteTimeout:      sc.ReadTimeout,
		IdleTimeout:       sc.IdleTimeout,
		MaxHeaderBytes:    sc.MaxHeaderBytes,
		ErrorLog:          errorLog,
	}
}

// shutdown stops the servers gracefully: they stop accepting at once and wait for
// requests in flight, all within timeout; past it, connections are closed. It
// then collects each server's Serve result from errc. The deadline is a fresh
// context: the signal context that triggered shutdown is already cancelled.
func shutdown(servers []*http.Server, errc <-chan error, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	for _, hs := range servers {
		if err := hs.Shutdown(ctx); err != nil {
			errs = append(errs, err, hs.Close())
		}
	}
	for range servers {
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// closeAll closes every server at once, after one of them failed.
func closeAll(servers []*http.Server) {
	for _, hs := range servers {
		_ = hs.Close()
	}
}

// serverConfig hands the server the plain values it needs from cfg.
func serverConfig(cfg config.Config) server.Config {
	c := cfg.Chat
	return server.Config{
		MaxBodyBytes:       cfg.Server.MaxBodyBytes,
		AllowedAPIKeys:     allowedKeys(cfg),
		SessionsPerMinute:  cfg.RateLimit.SessionsPerMinute,
		Burst:              cfg.RateLimit.Burst,
		RefreshesPerMinute: cfg.RateLimit.RefreshesPerMinute,
		TrustedProxies:     cfg.Server.TrustedProxies,
		// With metrics.addr set, /metrics has a listener of its own (see serve).
		PublicMetrics: cfg.Metrics.Enabled && cfg.Metrics.Addr == "",
		JWKSMaxAge:    cfg.JWT.JWKSMaxAge,
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
			AllowedMethods:        c.AllowedMethods,
		},
		CORS: server.CORSConfig{
			AllowedOrigins: cfg.CORS.AllowedOrigins,
			AllowedHeaders: cfg.CORS.AllowedHeaders,
			MaxAge:         cfg.CORS.MaxAge,
		},
	}
}

// allowedKeys returns api_keys.allowed as the plain strings the server takes.
func allowedKeys(cfg config.Config) []string {
	out := make([]string, 0, len(cfg.APIKeys.Allowed))
	for _, k := range cfg.APIKeys.Allowed {
		out = append(out, string(k))
	}
	return out
}
