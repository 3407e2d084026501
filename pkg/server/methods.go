package server

import (
	"net/http"
	"slices"
	"strings"
)

// DefaultAllowedMethods returns the request methods the chat proxy forwards when
// ChatConfig.AllowedMethods is empty: GET, POST, PUT, PATCH, DELETE and HEAD.
func DefaultAllowedMethods() []string {
	return []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead}
}

// neverForwarded reports whether method is one the proxy refuses whatever the
// configuration says: an upstream answering TRACE echoes the request, with the
// API key jwtgate injected, back to the token holder, and CONNECT asks for a
// tunnel that no path rule covers.
func neverForwarded(method string) bool {
	return method == http.MethodTrace || method == http.MethodConnect
}

// methodSet is the set of methods the proxy forwards, with the Allow header
// that a refusal carries, both built once.
type methodSet struct {
	methods []string
	allow   string
}

// newMethodSet returns the set of methods, or the default set when methods is
// empty. TRACE and CONNECT are left out even when listed (configuration
// validation refuses them with an error naming the key; this is the proxy's own
// guarantee); a method is matched exactly, as HTTP methods are case-sensitive.
func newMethodSet(methods []string) methodSet {
	if len(methods) == 0 {
		methods = DefaultAllowedMethods()
	}
	var set []string
	for _, m := range methods {
		if !neverForwarded(m) && !slices.Contains(set, m) {
			set = append(set, m)
		}
	}
	return methodSet{methods: set, allow: strings.Join(set, ", ")}
}

// allows reports whether method may be forwarded.
func (s methodSet) allows(method string) bool {
	return slices.Contains(s.methods, method)
}
