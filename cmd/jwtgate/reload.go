package main

import (
	"log/slog"

	"github.com/jwtgate/jwtgate/pkg/config"
	"github.com/jwtgate/jwtgate/pkg/server"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// reloader applies a fresh configuration to a running server (on SIGHUP): new
// keys, issuer and verifier settings (jwt.*), the API-key allowlist, and the TLS
// certificate files. Everything else (listeners, timeouts, chat, rate limits,
// logging) is fixed at start-up. A reload that fails changes nothing.
//
// It runs on serve's goroutine only, so its fields need no locking.
type reloader struct {
	load   func() (config.Config, error)
	logger *slog.Logger
	srv    *server.Server
	certs  *certReloader // nil without TLS

	// What is in force now.
	iss    *token.Issuer
	ver    *token.Verifier
	source keySource
}

func (rl *reloader) reload() {
	log := rl.logger
	log.Info("reloading the configuration")
	if rl.certs != nil {
		if err := rl.certs.reload(); err != nil {
			log.Error("TLS certificate not reloaded; keeping the current one", slog.Any("error", err))
		} else {
			log.Info("TLS certificate reloaded")
		}
	}

	cfg, err := rl.load()
	if err != nil {
		log.Error("configuration not reloaded; keeping the current one", slog.Any("error", err))
		return
	}
	iss, ver, source := rl.iss, rl.ver, configuredKeySource(cfg)
	switch {
	case source == keySourceRandom && rl.source != keySourceRandom:
		// Swapping configured keys for a random one would refuse every token in
		// circulation; an emptied secret is far more likely a mistake.
		log.Error("configuration not reloaded: it has no jwt.secret, jwt.secret_file or jwt.keys any more; keeping the current keys")
		return
	case source == keySourceRandom:
		// Still no configured key: keep the random one, or every token dies.
		log.Info("no keys configured; keeping the in-memory key")
	default:
		_, iss, ver, err = buildTokens(cfg, log)
		if err != nil {
			log.Error("configuration not reloaded; keeping the current one", slog.Any("error", err))
			return
		}
	}
	if err := rl.srv.Reload(iss, ver, allowedKeys(cfg)); err != nil {
		log.Error("configuration not reloaded; keeping the current one", slog.Any("error", err))
		return
	}
	rl.iss, rl.ver, rl.source = iss, ver, source
	log.Info("configuration reloaded: keys and api_keys.allowed apply to new requests; other settings need a restart",
		slog.String("kid", ver.KeySet().SigningKey().ID()),
		slog.Int("api_keys_allowed", len(cfg.APIKeys.Allowed)))
}
