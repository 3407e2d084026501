package main

import (
	"log/slog"

	"github.com/jwtgate/jwtgate/pkg/config"
	"github.com/jwtgate/jwtgate/pkg/server"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// reloader applies a fresh configuration to a running server (on SIGHUP or a
// watched file change): new keys, issuer and verifier settings (jwt.*), the
// API-key allowlist and the DPoP settings (dpop.*, but the replay caches and
// their size stay). A configuration that fails to load, to pass checkConfig (the
// check serve runs at start) or to build changes none of them, so nothing is
// accepted by a reload that the next start would refuse. Separately, the TLS key pair is read again from the files named at start
// (a renewed certificate is picked up even while the configuration file has a
// problem); new TLS file paths, like listeners, timeouts, chat, rate limits and
// logging, need a restart.
//
// It runs on serve's goroutine only, so its fields need no locking.
type reloader struct {
	load   func() (config.Config, error)
	logger *slog.Logger
	srv    *server.Server
	certs  *certReloader // nil without TLS
	watch  *fileWatcher  // nil: no file watching

	// What is in force now.
	iss    *token.Issuer
	ver    *token.Verifier
	source keySource
	// nonceRandom is the nonce secret of a deployment that configures none (see
	// nonceSecret), kept for the life of the process.
	nonceRandom []byte
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

	cfg, base, err := rl.watch.load(rl.load)
	if err == nil {
		// What a start would refuse, a reload refuses: the same check.
		err = checkConfig(cfg)
	}
	if err != nil {
		log.Error("configuration not reloaded; keeping the current one", slog.Any("error", err))
		return
	}
	if rl.certs != nil && (cfg.Server.TLSCertFile != rl.certs.certFile || cfg.Server.TLSKeyFile != rl.certs.keyFile) {
		log.Warn("server.tls_cert_file and server.tls_key_file changed: new paths take effect on restart; the files named at start are still read")
	}
	var (
		iss    *token.Issuer
		ver    *token.Verifier
		source = configuredKeySource(cfg)
	)
	switch {
	case source == keySourceRandom && rl.source != keySourceRandom:
		// Swapping configured keys for a random one would refuse every token in
		// circulation; an emptied secret is far more likely a mistake.
		log.Error("configuration not reloaded: it has no jwt.secret, jwt.secret_file or jwt.keys any more; keeping the current keys")
		return
	case source == keySourceRandom:
		// Still no configured key: keep the random one, or every token dies, but
		// apply the other jwt.* settings (lifetimes, revocation, cache, ...).
		log.Info("no keys configured; keeping the in-memory key")
		if iss, ver, err = newIssuerVerifier(rl.ver.KeySet(), cfg.JWT); err != nil {
			log.Error("configuration not reloaded; keeping the current one", slog.Any("error", err))
			return
		}
	default:
		_, iss, ver, err = buildTokens(cfg, log)
		if err != nil {
			log.Error("configuration not reloaded; keeping the current one", slog.Any("error", err))
			return
		}
	}
	dc, err := dpopConfig(cfg, rl.nonceRandom)
	if err != nil {
		log.Error("configuration not reloaded; keeping the current one", slog.Any("error", err))
		return
	}
	// The replay caches stay: a proof seen before the reload is refused after it.
	if err := rl.srv.Reload(iss, ver, allowedKeys(cfg), server.ReloadDPoP(dc)); err != nil {
		log.Error("configuration not reloaded; keeping the current one", slog.Any("error", err))
		return
	}
	rl.iss, rl.ver, rl.source = iss, ver, source
	rl.watch.follow(cfg, base)
	log.Info("configuration reloaded: jwt.*, api_keys.allowed and dpop.* (but dpop.replay_cache_size) apply to new requests; other settings need a restart",
		slog.String("kid", ver.KeySet().SigningKey().ID()),
		slog.Int("api_keys_allowed", len(cfg.APIKeys.Allowed)))
}
