package config

import (
	"errors"
	"fmt"

	"github.com/jwtgate/jwtgate/pkg/token"
)

// Spec returns s in the form pkg/token takes.
func (s LimitSet) Spec() token.LimitSpec {
	return token.LimitSpec{
		Models:             s.Models,
		Paths:              s.Paths,
		MaxOutputTokens:    s.MaxOutputTokens,
		RequestsPerMinute:  s.RequestsPerMinute,
		TokensPerMinute:    s.TokensPerMinute,
		TotalTokens:        s.TotalTokens,
		ConcurrentRequests: s.ConcurrentRequests,
	}
}

// Build returns the default and the ceiling as token.Limits, checked as
// [Config.Validate] checks them.
func (l Limits) Build() (def, ceiling token.Limits, err error) {
	def, ceiling, errs := l.build()
	if err := errors.Join(errs...); err != nil {
		return token.Limits{}, token.Limits{}, err
	}
	return def, ceiling, nil
}

// build checks both sets and that the default lies within the ceiling (pkg/token
// owns the rules); each problem starts with its configuration key.
func (l Limits) build() (def, ceiling token.Limits, errs []error) {
	def, err := token.NewLimits(l.Default.Spec())
	errs = append(errs, prefixLimitErrors("limits.default.", err)...)
	ceiling, err = token.NewLimits(l.Max.Spec())
	errs = append(errs, prefixLimitErrors("limits.max.", err)...)
	if len(errs) == 0 {
		errs = prefixLimitErrors("limits.default.", def.Within(ceiling))
	}
	return def, ceiling, errs
}

// prefixLimitErrors returns each problem of err, an error from pkg/token's limit
// checks, as its own error starting with the configuration key.
func prefixLimitErrors(prefix string, err error) []error {
	if err == nil {
		return nil
	}
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]error, 0, len(list))
	for _, e := range list {
		var le *token.LimitError
		if errors.As(e, &le) && le.Member != "" {
			if errors.Is(le, token.ErrLimitAboveCeiling) {
				out = append(out, fmt.Errorf("%s%s: %s (limits.max)", prefix, le.Member, le.Reason))
			} else {
				out = append(out, fmt.Errorf("%s%s: %s", prefix, le.Member, le.Reason))
			}
			continue
		}
		out = append(out, fmt.Errorf("%s%w", prefix, e))
	}
	return out
}
