package main

import (
	"fmt"

	"github.com/jwtgate/jwtgate/pkg/config"
	"github.com/jwtgate/jwtgate/pkg/server"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// sessionLimits returns limits.default, limits.max, limits.metrics_models and
// jwt.max_session_age (how long a session's counters live) as the server takes them.
// config.Load has checked them already; the error is for a Config built otherwise.
func sessionLimits(cfg config.Config) (server.LimitsConfig, error) {
	def, ceiling, err := cfg.Limits.Build()
	if err != nil {
		return server.LimitsConfig{}, err
	}
	return server.LimitsConfig{Default: def, Max: ceiling, MaxSessionAge: cfg.JWT.MaxSessionAge,
		MetricsModels: cfg.Limits.MetricsModels}, nil
}

// issueLimits returns the limits `token issue --limits` signs: the JSON the flag
// gives (empty: none asked), with limits.default and limits.max applied as
// POST /sessions applies them.
func issueLimits(cfg config.Config, asked string) (token.Limits, error) {
	lc, err := sessionLimits(cfg)
	if err != nil {
		return token.Limits{}, err
	}
	var a token.Limits
	if asked != "" {
		if a, err = token.ParseLimits([]byte(asked)); err != nil {
			return token.Limits{}, fmt.Errorf("--limits: %w", limitsErr(err))
		}
	}
	lim, err := token.ResolveLimits(a, lc.Default, lc.Max)
	if err != nil {
		return token.Limits{}, fmt.Errorf("--limits: %w", limitsErr(err))
	}
	return lim, nil
}

// limitsErr keeps the first problem of a joined error from pkg/token's limit
// checks, as POST /sessions reports it.
func limitsErr(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok && len(j.Unwrap()) > 0 {
		return j.Unwrap()[0]
	}
	return err
}
