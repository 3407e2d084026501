package crossorigin_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/crossorigin"
)

func TestParseOrigin(t *testing.T) {
	for _, tt := range []struct {
		entry string
		// wantErr holds part of the reason; "" means the entry is valid.
		wantErr string
	}{
		{entry: "https://app.example"},
		{entry: "http://127.0.0.1:5173"},
		{entry: "http://localhost:5173"},
		{entry: "http://[::1]:8080"},
		{entry: "vscode-file://vscode-app"},
		{entry: "vscode-webview://*"},
		{entry: "chrome-extension://abcdefghijklmnopabcdefghijklmnop"},
		{entry: "https://*.example.com"},
		{entry: "http://*.example.com:8080"},
		{entry: "https://my_host.example"},

		{entry: "", wantErr: "empty"},
		{entry: "*", wantErr: "never allows every origin"},
		{entry: "null", wantErr: `"null" origin`},
		{entry: "NULL", wantErr: `"null" origin`},
		{entry: "app.example", wantErr: "want scheme://host"},
		{entry: "https://app.example/", wantErr: "not even a trailing slash"},
		{entry: "https://app.example/ui", wantErr: "must not have a path"},
		{entry: `https://app.example\ui`, wantErr: "must not have a path"},
		{entry: "https://app.example?x=1", wantErr: "must not have a query"},
		{entry: "https://app.example#top", wantErr: "must not have a fragment"},
		{entry: "https://user@app.example", wantErr: "must not have user information"},
		{entry: "https://", wantErr: "missing host"},
		{entry: "https://:443", wantErr: "missing host"},
		{entry: "://app.example", wantErr: "missing scheme"},
		{entry: "HTTPS://app.example", wantErr: "scheme in lower case"},
		{entry: "1http://app.example", wantErr: "a scheme is a letter"},
		{entry: "https://App.Example", wantErr: "host in lower case"},
		{entry: "https://app.example:443", wantErr: "write https://app.example"},
		{entry: "http://app.example:80", wantErr: "write http://app.example"},
		{entry: "https://app.example:", wantErr: "the port must be"},
		{entry: "https://app.example:08443", wantErr: "without leading zeros"},
		{entry: "https://app.example:65536", wantErr: "the port must be"},
		{entry: "https://app.example:+80", wantErr: "the port must be"},
		{entry: "https://app..example", wantErr: "double dots"},
		{entry: "https://app.example.", wantErr: "trailing"},
		{entry: "https://app example", wantErr: "printable ASCII"},
		{entry: "https://bücher.example", wantErr: "xn-- form"},
		{entry: "https://app!.example", wantErr: "letters, digits"},
		{entry: "http://127.1", wantErr: "not a valid IPv4"},
		{entry: "http://256.0.0.1", wantErr: "not a valid IPv4"},
		{entry: "http://[::1", wantErr: "closing ]"},
		{entry: "http://[::1]8080", wantErr: "[address]:port"},
		{entry: "http://[0:0::1]", wantErr: "[::1]"},
		{entry: "http://[::ffff:127.0.0.1]", wantErr: "IPv4 form"},
		{entry: "http://[fe80::1%25eth0]", wantErr: "not a valid IPv6"},
		{entry: "https://*", wantErr: "every web site"},
		{entry: "http://*", wantErr: "every web site"},
		{entry: "wss://*", wantErr: "every web site"},
		{entry: "vscode-webview://*:8080", wantErr: "takes no port"},
		{entry: "https://*.com", wantErr: "whole top-level domain"},
		{entry: "https://*.0.0.1", wantErr: "not IP addresses"},
		{entry: "https://*example.com", wantErr: "whole leftmost label"},
		{entry: "https://app.*.example.com", wantErr: "whole leftmost label"},
		{entry: "https://*.*.example.com", wantErr: "whole leftmost label"},
		{entry: "https://a*.example.com", wantErr: "whole leftmost label"},
		{entry: "https://*.example.com:443", wantErr: "write https://*.example.com"},
		{entry: strings.Repeat("a", 320) + "://a", wantErr: "longer than 320 characters"},
	} {
		t.Run(tt.entry, func(t *testing.T) {
			p, err := crossorigin.ParseOrigin(tt.entry)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseOrigin(%q) = %v, want success", tt.entry, err)
				}
				if p.String() != tt.entry {
					t.Errorf("String() = %q, want the entry %q", p.String(), tt.entry)
				}
				return
			}
			if !errors.Is(err, crossorigin.ErrInvalidOrigin) {
				t.Fatalf("ParseOrigin(%q) = %v, want ErrInvalidOrigin", tt.entry, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not say %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), strconv.Quote(tt.entry)) {
				t.Errorf("error %q does not quote the entry", err)
			}
		})
	}
}

func TestOriginsAllow(t *testing.T) {
	o := mustOrigins(t,
		"https://app.example",
		"http://127.0.0.1:5173",
		"http://[::1]:8080",
		"https://*.example.com",
		"http://*.dev.example:3000",
		"vscode-webview://*",
		"vscode-file://vscode-app",
	)
	for _, tt := range []struct {
		origin string
		want   bool
	}{
		// exact
		{"https://app.example", true},
		{"http://app.example", false},            // another scheme
		{"https://app.example:8443", false},      // another port
		{"https://app.example:443", false},       // never sent by a browser
		{"https://app.example/", false},          // not an origin
		{"https://app.example.evil", false},      // suffix attack
		{"https://evilapp.example", false},       // prefix attack
		{"HTTPS://APP.EXAMPLE", false},           // case: browsers send lower case
		{"https://App.example", false},           // case
		{"http://127.0.0.1:5173", true},          // IPv4 with port
		{"http://127.0.0.1:5174", false},         // another port
		{"http://127.0.0.1", false},              // no port
		{"http://[::1]:8080", true},              // IPv6
		{"http://[0:0:0:0:0:0:0:1]:8080", false}, // not the serialized form
		{"vscode-file://vscode-app", true},
		{"vscode-file://other-app", false},

		// host wildcard: one or more labels, same scheme and port, never the apex
		{"https://a.example.com", true},
		{"https://a.b.example.com", true},
		{"https://xn--bcher-kva.example.com", true},
		{"https://example.com", false},
		{"https://.example.com", false},
		{"https://a..example.com", false},
		{"https://aexample.com", false},
		{"https://a.example.com.evil", false},
		{"https://a.example.com:8443", false},
		{"http://a.example.com", false},
		{"https://A.example.com", false},
		{"https://a.example.com/", false},
		{"https://user@a.example.com", false},
		{"http://a.dev.example:3000", true},
		{"http://a.dev.example", false},
		{"http://a.dev.example:3001", false},

		// scheme wildcard
		{"vscode-webview://1f2e3d4c5b6a", true},
		{"vscode-webview://0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9", true},
		{"vscode-webview://", false},
		{"vscode-webview://x/y", false},
		{"VSCODE-WEBVIEW://abc", false},
		{"vscode-webview2://abc", false},

		// never
		{"null", false},
		{"", false},
		{"*", false},
		{"https://" + strings.Repeat("a", 400) + ".example.com", false},
		{"https://a.example.com\r\nX-Evil: 1", false},
	} {
		if got := o.Allow(tt.origin); got != tt.want {
			t.Errorf("Allow(%q) = %v, want %v", tt.origin, got, tt.want)
		}
	}
}

func TestOriginsAllowNothing(t *testing.T) {
	var nilSet *crossorigin.Origins
	for name, o := range map[string]*crossorigin.Origins{
		"nil":   nilSet,
		"empty": crossorigin.NewOrigins(),
	} {
		for _, origin := range []string{"https://app.example", "null", ""} {
			if o.Allow(origin) {
				t.Errorf("%s set allows %q", name, origin)
			}
		}
	}
}

func mustOrigins(t *testing.T, entries ...string) *crossorigin.Origins {
	t.Helper()
	var ps []crossorigin.OriginPattern
	for _, e := range entries {
		p, err := crossorigin.ParseOrigin(e)
		if err != nil {
			t.Fatalf("ParseOrigin(%q): %v", e, err)
		}
		ps = append(ps, p)
	}
	return crossorigin.NewOrigins(ps...)
}
