package crossorigin

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// maxOriginLen bounds entries and the Origin header values [Origins.Allow]
// looks at: a scheme, a host name of at most 253 characters and a port fit with
// room to spare. Anything longer is neither accepted nor allowed.
const maxOriginLen = 320

// originKind tells the three forms of an origin entry apart.
type originKind uint8

const (
	exactOrigin originKind = iota // https://app.example
	subdomains                    // https://*.example.com: hosts under example.com
	anyHost                       // vscode-webview://*: every host of the scheme
)

// OriginPattern is one parsed entry of cors.allowed_origins; [ParseOrigin]
// returns it and [NewOrigins] collects several.
type OriginPattern struct {
	kind   originKind
	scheme string
	host   string // the host; for subdomains the suffix after "*."; empty for anyHost
	port   string // empty: none (the scheme's default)
	text   string // the entry as written, which parsing guarantees is canonical
}

// String returns the entry as written in the configuration.
func (p OriginPattern) String() string { return p.text }

// ParseOrigin parses one entry of cors.allowed_origins. Three forms are accepted,
// each written exactly as a browser serializes an origin (RFC 6454: lower-case
// scheme and host, no default port, nothing after the host and port):
//
//   - an exact origin, scheme://host or scheme://host:port
//     ("https://app.example", "http://127.0.0.1:5173", "http://[::1]:8080",
//     "vscode-file://vscode-app");
//   - a host wildcard, where "*" is the whole leftmost label
//     ("https://*.example.com", "http://*.example.com:8080"). It matches a host
//     with one or more labels in front of the rest (a.example.com and
//     a.b.example.com), never example.com itself, and only with the same port.
//     At least two labels must follow "*.", so a whole top-level domain
//     ("https://*.com") cannot be allowed;
//   - a scheme wildcard, where "*" is the whole host ("vscode-webview://*"): every
//     origin of that scheme. It is refused for http, https, ws and wss, where it
//     would allow every web site.
//
// Refused, with an error wrapping [ErrInvalidOrigin] that quotes the entry and
// says why: a bare "*" (jwtgate echoes an allowed origin and never allows them
// all), "null" (sent by sandboxed frames, local files and redirects from
// anywhere), a path (even a trailing slash), query, fragment or user
// information, "*" anywhere else, upper-case letters, a default port
// (":443" on https), and host names that are not ASCII (write the xn-- form).
func ParseOrigin(s string) (OriginPattern, error) {
	p, reason := parseOriginPattern(s)
	if reason != "" {
		return OriginPattern{}, fmt.Errorf("%w %q: %s", ErrInvalidOrigin, s, reason)
	}
	return p, nil
}

func parseOriginPattern(s string) (OriginPattern, string) {
	switch {
	case s == "":
		return OriginPattern{}, "empty"
	case s == "*":
		return OriginPattern{}, "jwtgate never allows every origin (it echoes an allowed origin and never sends *); " +
			"list the origins, or use a scheme wildcard such as vscode-webview://*"
	case strings.EqualFold(s, "null"):
		return OriginPattern{}, `the "null" origin cannot be allowed: sandboxed frames, local files and ` +
			"cross-site redirects from anywhere all send it"
	}
	scheme, host, port, reason := splitOrigin(s)
	if reason != "" {
		return OriginPattern{}, reason
	}
	p := OriginPattern{scheme: scheme, port: port, text: s}
	switch {
	case host == "*":
		if isWebScheme(scheme) {
			return OriginPattern{}, fmt.Sprintf("%s://* would allow every web site; list the origins, "+
				"or use a host wildcard such as %s://*.example.com", scheme, scheme)
		}
		if port != "" {
			return OriginPattern{}, fmt.Sprintf("a scheme wildcard takes no port: write %s://*", scheme)
		}
		p.kind = anyHost
	case strings.HasPrefix(host, "*.") && !strings.Contains(host[2:], "*"):
		suffix := host[2:]
		if r := checkDomain(suffix); r != "" {
			return OriginPattern{}, r
		}
		if !strings.Contains(suffix, ".") {
			return OriginPattern{}, fmt.Sprintf("a host wildcard needs at least two labels after \"*.\" "+
				"(https://*.example.com); *.%s would cover a whole top-level domain", suffix)
		}
		if isNumeric(lastLabel(suffix)) {
			return OriginPattern{}, "a host wildcard is for host names, not IP addresses"
		}
		p.kind, p.host = subdomains, suffix
	case strings.Contains(host, "*"):
		return OriginPattern{}, "* may only be the whole leftmost label (https://*.example.com) " +
			"or the whole host (vscode-webview://*)"
	default:
		if r := checkHost(host); r != "" {
			return OriginPattern{}, r
		}
		p.kind, p.host = exactOrigin, host
	}
	if port != "" && port == defaultPort(scheme) {
		return OriginPattern{}, fmt.Sprintf("browsers leave the default port out: write %s",
			strings.TrimSuffix(s, ":"+port))
	}
	return p, ""
}

// splitOrigin splits scheme://host[:port] and checks everything but the host
// itself, which may still be a wildcard. It serves both configuration entries
// and the Origin headers of requests, so the two are read alike.
func splitOrigin(s string) (scheme, host, port, reason string) {
	if len(s) > maxOriginLen {
		return "", "", "", fmt.Sprintf("longer than %d characters", maxOriginLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return "", "", "", "must be printable ASCII without spaces (write an international host name in its xn-- form)"
		}
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return "", "", "", "want scheme://host or scheme://host:port"
	}
	if r := checkScheme(scheme); r != "" {
		return "", "", "", r
	}
	if i := strings.IndexAny(rest, "/\\?#@"); i >= 0 {
		switch rest[i] {
		case '?':
			return "", "", "", "must not have a query"
		case '#':
			return "", "", "", "must not have a fragment"
		case '@':
			return "", "", "", "must not have user information"
		default:
			return "", "", "", "must not have a path, not even a trailing slash: an origin is scheme://host[:port] only"
		}
	}
	host = rest
	hasPort := false
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "", "", "", "an IPv6 address needs its closing ]"
		}
		host, rest = rest[:end+1], rest[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return "", "", "", "want [address] or [address]:port"
			}
			port, hasPort = rest[1:], true
		}
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		host, port, hasPort = rest[:i], rest[i+1:], true
	}
	if host == "" {
		return "", "", "", "missing host"
	}
	if hasPort {
		if r := checkPort(port); r != "" {
			return "", "", "", r
		}
	}
	return scheme, host, port, ""
}

// checkScheme applies RFC 3986's scheme syntax, in lower case as browsers send it.
func checkScheme(scheme string) string {
	if scheme == "" {
		return "missing scheme"
	}
	for i := 0; i < len(scheme); i++ {
		c := scheme[i]
		switch {
		case 'a' <= c && c <= 'z':
		case 'A' <= c && c <= 'Z':
			return "write the scheme in lower case, as browsers send it"
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return "a scheme is a letter followed by letters, digits, +, - or ."
		}
	}
	return ""
}

// checkPort accepts 1 to 65535 written without leading zeros, as browsers do.
func checkPort(port string) string {
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port[0] == '0' || !isNumeric(port) {
		return fmt.Sprintf("the port must be a number from 1 to 65535 without leading zeros, got %q", port)
	}
	return ""
}

// checkHost accepts a host name, an IPv4 address or a bracketed IPv6 address,
// each in the one form browsers serialize it in.
func checkHost(host string) string {
	if strings.HasPrefix(host, "[") {
		inner := strings.TrimSuffix(host[1:], "]")
		a, err := netip.ParseAddr(inner)
		if err != nil || !a.Is6() || a.Zone() != "" || a.Is4In6() {
			return "not a valid IPv6 address (without a zone; write IPv4-mapped addresses in IPv4 form)"
		}
		if want := "[" + a.String() + "]"; want != host {
			return "write the IPv6 address as browsers do: " + want
		}
		return ""
	}
	if isNumeric(lastLabel(host)) {
		// Browsers read a host ending in a number as an IPv4 address.
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is4() || a.String() != host {
			return "not a valid IPv4 address (want four decimal numbers, as in 127.0.0.1)"
		}
		return ""
	}
	return checkDomain(host)
}

// checkDomain accepts an ASCII host name in lower case: labels of 1 to 63
// letters, digits, "-" or "_", 253 characters at most.
func checkDomain(name string) string {
	if len(name) > 253 {
		return "a host name is at most 253 characters"
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return "a host name has labels of 1 to 63 characters (no leading, trailing or double dots)"
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			case 'A' <= c && c <= 'Z':
				return "write the host in lower case, as browsers send it"
			default:
				return fmt.Sprintf("a host name has letters, digits, - and _ only, got %q", string(c))
			}
		}
	}
	return ""
}

func lastLabel(host string) string {
	return host[strings.LastIndexByte(host, '.')+1:]
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isWebScheme reports whether scheme is one any web site can have.
func isWebScheme(scheme string) bool {
	switch scheme {
	case "http", "https", "ws", "wss":
		return true
	}
	return false
}

func defaultPort(scheme string) string {
	switch scheme {
	case "http", "ws":
		return "80"
	case "https", "wss":
		return "443"
	}
	return ""
}

// Origins is the set of origins a list of [OriginPattern] allows. It is
// immutable and safe for concurrent use; the zero value and nil allow nothing.
type Origins struct {
	exact map[string]struct{}
	wild  []OriginPattern
}

// NewOrigins returns the set of origins the patterns allow.
func NewOrigins(patterns ...OriginPattern) *Origins {
	o := &Origins{exact: make(map[string]struct{}, len(patterns))}
	for _, p := range patterns {
		if p.kind == exactOrigin {
			o.exact[p.text] = struct{}{}
		} else {
			o.wild = append(o.wild, p)
		}
	}
	return o
}

// Allow reports whether origin, a request's Origin header, is allowed. The
// comparison is exact, as browsers compare Access-Control-Allow-Origin with
// their own origin: a browser always sends the lower-case, default-port-free
// form, so any other spelling ("HTTPS://APP.EXAMPLE", "https://app.example:443")
// does not come from one and is not allowed. "null" never is.
func (o *Origins) Allow(origin string) bool {
	if o == nil || origin == "" || len(origin) > maxOriginLen {
		return false
	}
	if _, ok := o.exact[origin]; ok {
		return true
	}
	if len(o.wild) == 0 {
		return false
	}
	scheme, host, port, reason := splitOrigin(origin)
	if reason != "" || checkHost(host) != "" || (port != "" && port == defaultPort(scheme)) {
		return false
	}
	for _, p := range o.wild {
		if p.scheme != scheme {
			continue
		}
		switch p.kind {
		case anyHost:
			return true
		case subdomains:
			n := len(host) - len(p.host)
			if port == p.port && n > 1 && host[n-1] == '.' && host[n:] == p.host {
				return true
			}
		}
	}
	return false
}
