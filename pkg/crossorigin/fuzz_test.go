package crossorigin_test

import (
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/crossorigin"
)

// FuzzOrigin feeds arbitrary text to both readers of origins: ParseOrigin (a
// configuration entry) and Origins.Allow (a request's Origin header, which the
// middleware echoes when allowed).
func FuzzOrigin(f *testing.F) {
	for _, s := range []string{
		"https://app.example", "http://127.0.0.1:5173", "http://[::1]:8080", "vscode-webview://abc",
		"https://a.b.example.com", "https://*.example.com", "vscode-webview://*", "null", "*",
		"https://app.example/", "HTTPS://APP.EXAMPLE", "https://app.example:443", "http://[::ffff:1.2.3.4]",
		"https://a..example.com", "https://xn--bcher-kva.example", "a://b:0", "https://:1",
	} {
		f.Add(s)
	}
	set := mustFuzzOrigins(f, "https://app.example", "https://*.example.com", "http://*.example.com:8080",
		"vscode-webview://*", "http://[::1]:8080")
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := crossorigin.ParseOrigin(s); err == nil {
			if p.String() != s {
				t.Fatalf("ParseOrigin(%q).String() = %q", s, p.String())
			}
			if !strings.Contains(s, "*") && !crossorigin.NewOrigins(p).Allow(s) {
				t.Fatalf("exact entry %q does not allow itself", s)
			}
		}
		if set.Allow(s) {
			// What is allowed is echoed: it must be an origin as browsers
			// write it, which is what an exact entry is.
			if strings.Contains(s, "*") {
				t.Fatalf("Allow(%q) = true for a wildcard", s)
			}
			if _, err := crossorigin.ParseOrigin(s); err != nil {
				t.Fatalf("Allow(%q) = true, but it is not a valid origin: %v", s, err)
			}
		}
	})
}

func mustFuzzOrigins(f *testing.F, entries ...string) *crossorigin.Origins {
	f.Helper()
	var ps []crossorigin.OriginPattern
	for _, e := range entries {
		p, err := crossorigin.ParseOrigin(e)
		if err != nil {
			f.Fatalf("ParseOrigin(%q): %v", e, err)
		}
		ps = append(ps, p)
	}
	return crossorigin.NewOrigins(ps...)
}
