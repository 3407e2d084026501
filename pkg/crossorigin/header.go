package crossorigin

import (
	"fmt"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// HeaderPattern is one parsed request-header rule: a header name
// ("anthropic-version") or, ending in "*", a prefix of names ("x-stainless-*").
// [ParseHeader] returns it and [NewHeaders] collects several.
type HeaderPattern struct {
	name   string // lower case, without the "*" of a prefix
	prefix bool
}

// String returns the rule in lower case, with the "*" of a prefix.
func (p HeaderPattern) String() string {
	if p.prefix {
		return p.name + "*"
	}
	return p.name
}

// Name returns the header name in lower case, or for a prefix the part before "*".
func (p HeaderPattern) Name() string { return p.name }

// IsPrefix reports whether the rule is a prefix ("x-stainless-*").
func (p HeaderPattern) IsPrefix() bool { return p.prefix }

// ParseHeader parses one entry of cors.allowed_headers: a valid header name
// (RFC 9110 token; case does not matter), or a prefix that is such a name
// followed by "*" ("x-myco-*"). A bare "*" is refused: it would allow every
// request header, and browsers do not let it cover Authorization anyway. Errors
// wrap [ErrInvalidHeader] and quote the entry.
func ParseHeader(s string) (HeaderPattern, error) {
	name, prefix := strings.CutSuffix(s, "*")
	var reason string
	switch {
	case s == "":
		reason = "empty"
	case s == "*":
		reason = "allowing every request header is not supported; name the headers, or give a prefix such as x-myco-*"
	case strings.Contains(name, "*"):
		reason = "* may only end a prefix, as in x-myco-*"
	case !httpguts.ValidHeaderFieldName(name):
		reason = "not a valid header name"
	}
	if reason != "" {
		return HeaderPattern{}, fmt.Errorf("%w %q: %s", ErrInvalidHeader, s, reason)
	}
	return HeaderPattern{name: strings.ToLower(name), prefix: prefix}, nil
}

// Headers is the set of request header names a list of [HeaderPattern] allows.
// It is immutable and safe for concurrent use; nil allows nothing.
type Headers struct {
	exact    map[string]struct{}
	prefixes []string
}

// NewHeaders returns the set of header names the patterns allow.
func NewHeaders(patterns ...HeaderPattern) *Headers {
	h := &Headers{exact: make(map[string]struct{}, len(patterns))}
	for _, p := range patterns {
		if p.prefix {
			h.prefixes = append(h.prefixes, p.name)
		} else {
			h.exact[p.name] = struct{}{}
		}
	}
	return h
}

// Allow reports whether the request header name is allowed, ignoring case.
// Only valid header names are.
func (h *Headers) Allow(name string) bool {
	if h == nil || !httpguts.ValidHeaderFieldName(name) {
		return false
	}
	name = strings.ToLower(name)
	if _, ok := h.exact[name]; ok {
		return true
	}
	for _, p := range h.prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
