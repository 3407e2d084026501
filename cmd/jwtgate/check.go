package main

import (
	"errors"

	"github.com/jwtgate/jwtgate/pkg/config"
	"github.com/jwtgate/jwtgate/pkg/server"
)

// checkConfig reports every reason serve would refuse to start with cfg: the
// configuration's own rules ([config.Config.Validate]), the server's rules for
// chat.* ([server.ChatConfig.Validate], which pkg/config does not import) and
// limits.metrics_models ([server.LimitsConfig.Validate]), and a
// TLS key pair that does not load. serve runs it at start and the reloader on
// every reload, the same function, so a reload refuses exactly what the next
// start would; the keys are then built by buildTokens, again in both.
//
// Only what depends on the machine at the time is left out: a listen address
// already taken shows only when serve listens.
func checkConfig(cfg config.Config) error {
	errs := []error{cfg.Validate(), serverConfig(cfg).Chat.Validate(),
		server.LimitsConfig{MetricsModels: cfg.Limits.MetricsModels}.Validate()}
	if s := cfg.Server; s.TLSCertFile != "" && s.TLSKeyFile != "" {
		_, err := loadKeyPair(s.TLSCertFile, s.TLSKeyFile)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
