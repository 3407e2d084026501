package server

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/jwtgate/jwtgate/pkg/token"
)

// Validate reports every problem with c, joined with [errors.Join], each message
// starting with the configuration key it concerns ("chat.idle_timeout: must not
// be negative, got -1s"). It changes nothing and never quotes the upstream URL,
// which may carry credentials.
//
// It is the one definition of the rules for chat.*: [New] and the chat proxy
// refuse exactly what it reports, and the binary runs it at start-up and on every
// reload, so that a reload refuses exactly what the next start would.
//
// Zero values are valid: a zero duration switches its limit off, a zero
// MaxBodyBytes puts no limit on forwarded bodies (the echo backend, which reads
// bodies into memory, still bounds them at [DefaultChatMaxBodyBytes]), an empty
// AuthHeader means "Authorization", an empty AuthScheme sends the bare key, empty
// AllowedMethods mean [DefaultAllowedMethods], and a nil UpstreamURL selects the
// echo backend.
func (c ChatConfig) Validate() error {
	var errs []error
	if c.UpstreamURL != nil {
		if err := checkUpstreamURL(c.UpstreamURL); err != nil {
			errs = append(errs, err)
		}
	}
	if c.AuthHeader != "" && !httpguts.ValidHeaderFieldName(c.AuthHeader) {
		errs = append(errs, fmt.Errorf("chat.upstream_auth_header: %q is not a valid header name", c.AuthHeader))
	}
	if c.AuthScheme != "" && !httpguts.ValidHeaderFieldName(c.AuthScheme) {
		errs = append(errs, fmt.Errorf("chat.upstream_auth_scheme: %q is not a single token (empty sends the bare key)", c.AuthScheme))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"chat.echo_delay", c.EchoDelay},
		{"chat.connect_timeout", c.ConnectTimeout},
		{"chat.response_header_timeout", c.ResponseHeaderTimeout},
		{"chat.idle_timeout", c.IdleTimeout},
		{"chat.max_stream_duration", c.MaxStreamDuration},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative (0 turns it off), got %s", d.key, d.v))
		}
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("chat.max_body_bytes: must not be negative (0: no limit), got %d", c.MaxBodyBytes))
	}
	// The rule of session limits' paths too (pkg/token's), matched the same way.
	for _, a := range c.AllowedPaths {
		if _, err := token.CheckPathPrefix(a); err != nil {
			errs = append(errs, fmt.Errorf("chat.allowed_paths: %q %w", a, err))
		}
	}
	errs = append(errs, checkMethods(c.AllowedMethods))
	return errors.Join(errs...)
}

// checkMethods is the rule for chat.allowed_methods: each entry one of the methods
// a chat API uses, in upper case (HTTP methods are case-sensitive). TRACE would have
// an upstream echo the request, the injected API key included, back to the token
// holder; CONNECT would open a tunnel past every path rule: both are refused here,
// and the proxy never forwards them whatever the list says (newMethodSet). An
// empty list means [DefaultAllowedMethods].
func checkMethods(methods []string) error {
	var errs []error
	for i, m := range methods {
		key := fmt.Sprintf("chat.allowed_methods[%d]", i)
		switch {
		case neverForwarded(m):
			errs = append(errs, fmt.Errorf("%s: %s is never forwarded: it would expose the upstream API key or open a tunnel", key, m))
		case m == http.MethodGet, m == http.MethodHead, m == http.MethodPost, m == http.MethodPut,
			m == http.MethodPatch, m == http.MethodDelete, m == http.MethodOptions:
		case !httpguts.ValidHeaderFieldName(m):
			errs = append(errs, fmt.Errorf("%s: %q is not a method token", key, m))
		default:
			errs = append(errs, fmt.Errorf("%s: unknown method %q: want GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS (upper case)", key, m))
		}
	}
	return errors.Join(errs...)
}
