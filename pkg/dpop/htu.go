package dpop

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// The htu claim is compared with the request's URI after the normalisations RFC
// 9449 section 4.3 asks for: syntax-based (RFC 3986 section 6.2.2: scheme and host
// in lower case, percent-encodings in upper case and decoded where they encode an
// unreserved character, dot segments removed) and scheme-based (section 6.2.3: the
// default port dropped, an empty path made "/"). The request's query is ignored.
//
// The proof's htu must carry no query and no fragment at all: RFC 9449 section 4.2
// defines the claim as the target URI "without query and fragment parts", and a
// client that puts them there (they may hold secrets) is sending something else.
//
// ws and wss are taken as http and https, with the same default ports: a browser
// making a proof for a WebSocket upgrade naturally names the wss:// URL it opens,
// and the server sees that request as an https GET of the same host and path.
//
// Only URIs made of RFC 3986's characters are accepted: a host is a DNS name or an
// IP literal (no userinfo, no percent-encoding, no zone), a path is pchars and "/".

// checkHTU checks that htu names the request URI u once both are normalised.
//
// A client names the URL in the normal form nearly always, and the normal form
// of a normal form is itself (FuzzHTUNormalForm holds normalizeHTU to that), so
// an htu equal to the request's normalised URI matches without being normalised
// itself; any other is normalised first, and errors come in the same order.
func checkHTU(htu string, u *url.URL) error {
	target, terr := normalizeRequestURI(u)
	if terr == nil && htu == target {
		return nil
	}
	n, err := normalizeHTU(htu)
	if err != nil {
		return err
	}
	if terr != nil {
		return terr
	}
	if n != target {
		return ErrProofURI
	}
	return nil
}

// normalizeHTU normalises a proof's htu claim.
func normalizeHTU(htu string) (string, error) {
	if strings.ContainsAny(htu, "?#") {
		return "", fmt.Errorf("%w: htu must not carry a query or fragment", ErrProofURI)
	}
	i := strings.Index(htu, "://")
	if i <= 0 {
		return "", fmt.Errorf("%w: htu is not an absolute http or https URI", ErrProofURI)
	}
	authority, path := htu[i+3:], ""
	if j := strings.IndexByte(authority, '/'); j >= 0 {
		authority, path = authority[:j], authority[j:]
	}
	s, ok := normalizeURI(htu[:i], authority, path)
	if !ok {
		return "", fmt.Errorf("%w: htu is not an absolute http or https URI", ErrProofURI)
	}
	return s, nil
}

// normalizeRequestURI normalises the URI a request was made to, from u's scheme,
// host and escaped path; its query, fragment and userinfo are ignored.
func normalizeRequestURI(u *url.URL) (string, error) {
	if u == nil || u.Opaque != "" {
		return "", fmt.Errorf("%w: the request URI is not known", ErrProofURI)
	}
	s, ok := normalizeURI(u.Scheme, u.Host, u.EscapedPath())
	if !ok {
		return "", fmt.Errorf("%w: the request URI cannot be normalised", ErrProofURI)
	}
	return s, nil
}

// normalizeURI returns scheme://host[:port]path in normal form, or false when the
// parts do not form an http(s) URI this package accepts.
func normalizeURI(scheme, authority, path string) (string, bool) {
	var defaultPort string
	switch {
	case strings.EqualFold(scheme, "https"), strings.EqualFold(scheme, "wss"):
		scheme, defaultPort = "https", "443"
	case strings.EqualFold(scheme, "http"), strings.EqualFold(scheme, "ws"):
		scheme, defaultPort = "http", "80"
	default:
		return "", false
	}
	host, port, ok := splitAuthority(authority)
	if !ok {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(scheme) + 3 + len(authority) + len(path) + 1)
	b.WriteString(scheme)
	b.WriteString("://")
	for i := 0; i < len(host); i++ {
		c := host[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	if port != "" && port != defaultPort {
		b.WriteByte(':')
		b.WriteString(port)
	}
	if path == "" {
		path = "/"
	}
	if path[0] != '/' {
		return "", false
	}
	start := b.Len()
	if !writePath(&b, path) {
		return "", false
	}
	s := b.String()
	if p := removeDotSegments(s[start:]); p != s[start:] {
		return s[:start] + p, true
	}
	return s, true
}

// splitAuthority splits host[:port], checking both; port comes back in decimal
// without leading zeros, or empty when absent or empty.
func splitAuthority(a string) (host, port string, ok bool) {
	var rest string
	if strings.HasPrefix(a, "[") {
		end := strings.IndexByte(a, ']')
		if end < 0 || !ipLiteral(a[1:end]) {
			return "", "", false
		}
		host, rest = a[:end+1], a[end+1:]
	} else {
		host, rest = a, ""
		if i := strings.LastIndexByte(a, ':'); i >= 0 {
			host, rest = a[:i], a[i:]
		}
		if host == "" || !regName(host) {
			return "", "", false
		}
	}
	if rest == "" || rest == ":" {
		return host, "", true
	}
	if rest[0] != ':' || len(rest) > 6 {
		return "", "", false
	}
	for i := 1; i < len(rest); i++ {
		if rest[i] < '0' || rest[i] > '9' {
			return "", "", false
		}
	}
	n, err := strconv.Atoi(rest[1:])
	if err != nil || n == 0 || n > 65535 {
		return "", "", false
	}
	return host, strconv.Itoa(n), true
}

// regName reports whether s is a host name of unreserved characters (RFC 3986's
// reg-name without sub-delims and percent-encoding, which no DNS name needs).
func regName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			return false
		}
	}
	return true
}

// ipLiteral reports whether s (between the brackets) looks like an IPv6 address:
// hex digits, colons and dots (for an embedded IPv4 address).
func ipLiteral(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isHex(c) || c == ':' || c == '.') {
			return false
		}
	}
	return true
}

// writePath writes path with its percent-encodings normalised, or reports false
// for a character no URI path may hold raw or a broken percent-encoding.
func writePath(b *strings.Builder, path string) bool {
	const upperHex = "0123456789ABCDEF"
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '%':
			if i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2]) {
				return false
			}
			v := unhex(path[i+1])<<4 | unhex(path[i+2])
			if unreserved(v) {
				b.WriteByte(v)
			} else {
				b.WriteByte('%')
				b.WriteByte(upperHex[v>>4])
				b.WriteByte(upperHex[v&15])
			}
			i += 2
		case unreserved(c) || c == '/' || c == ':' || c == '@' || strings.IndexByte("!$&'()*+,;=", c) >= 0:
			b.WriteByte(c)
		default:
			return false
		}
	}
	return true
}

// removeDotSegments applies RFC 3986 section 5.2.4 to an absolute path.
func removeDotSegments(p string) string {
	if !strings.Contains(p, "/.") {
		return p
	}
	segs := strings.Split(p[1:], "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
			continue
		}
		if last {
			out = append(out, "")
		}
	}
	return "/" + strings.Join(out, "/")
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

// matchPlainTarget compares htu with the normal form of the request URI u
// without building it, when u is already in normal form, as nearly every
// request URI is: scheme http or https in lower case, a host name in lower case
// with no port or a port that is not the scheme's default (no leading zero, at
// most 65535), no RawPath, and a path of unreserved characters and slashes
// without dot segments. For such a u, normalizeRequestURI returns scheme://host
// [:port]path as u holds them, and match tells whether htu is exactly that. ok
// is false for any other u: the caller normalises.
func matchPlainTarget(htu string, u *url.URL) (match, ok bool) {
	if u == nil || u.Opaque != "" || u.RawPath != "" {
		return false, false
	}
	var defaultPort string
	switch u.Scheme {
	case "https":
		defaultPort = "443"
	case "http":
		defaultPort = "80"
	default:
		return false, false
	}
	host, port := u.Host, ""
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host, port = host[:i], host[i+1:]
		if !plainPort(port) || port == defaultPort {
			return false, false
		}
	}
	if host == "" {
		return false, false
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; 'A' <= c && c <= 'Z' || !unreserved(c) {
			return false, false
		}
	}
	p := u.Path
	if p == "" || p[0] != '/' || strings.Contains(p, "/.") {
		return false, false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c != '/' && !unreserved(c) {
			return false, false
		}
	}
	s, h := len(u.Scheme), len(u.Host)
	return len(htu) == s+3+h+len(p) && htu[:s] == u.Scheme && htu[s:s+3] == "://" &&
		htu[s+3:s+3+h] == u.Host && htu[s+3+h:] == p, true
}

// plainPort reports whether p is a port in the decimal form splitAuthority
// returns: 1 to 65535 without leading zeros.
func plainPort(p string) bool {
	if p == "" || len(p) > 5 || p[0] == '0' {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}
