package dpop

import (
	"errors"
	"testing"
)

func TestNormalizeHTU(t *testing.T) {
	tests := []struct {
		htu  string
		want string // "" for refused
	}{
		{"https://example.com/x", "https://example.com/x"},
		{"HTTP://EXAMPLE.com:80/x", "http://example.com/x"},
		{"http://example.com:80/x", "http://example.com/x"},
		{"https://example.com:443/x", "https://example.com/x"},
		{"https://example.com:0443/x", "https://example.com/x"},
		{"https://example.com:/x", "https://example.com/x"},
		{"http://example.com:443/x", "http://example.com:443/x"},
		{"https://example.com:80/x", "https://example.com:80/x"},
		{"https://example.com:8443/x", "https://example.com:8443/x"},
		{"https://example.com", "https://example.com/"},
		{"https://example.com/", "https://example.com/"},
		{"wss://example.com:443/chat", "https://example.com/chat"},
		{"ws://example.com/chat", "http://example.com/chat"},
		{"https://example.com/%7euser/%7E", "https://example.com/~user/~"},
		{"https://example.com/%41%62c", "https://example.com/Abc"},
		{"https://example.com/a%2fb", "https://example.com/a%2Fb"},
		{"https://example.com/a%2Fb", "https://example.com/a%2Fb"},
		{"https://example.com/caf%c3%a9", "https://example.com/caf%C3%A9"},
		{"https://example.com/a/./b/../c", "https://example.com/a/c"},
		{"https://example.com/a/b/..", "https://example.com/a/"},
		{"https://example.com/a/%2E%2E/b", "https://example.com/b"},
		{"https://example.com/../../x", "https://example.com/x"},
		{"https://example.com/a//b", "https://example.com/a//b"},
		{"https://example.com/.well-known/x", "https://example.com/.well-known/x"},
		{"https://example.com/A", "https://example.com/A"},
		{"https://example.com/a:b@c!$&'()*+,;=", "https://example.com/a:b@c!$&'()*+,;="},
		{"https://[::1]:443/x", "https://[::1]/x"},
		{"https://[FE80::1]:8443/x", "https://[fe80::1]:8443/x"},
		{"https://127.0.0.1:8080/x", "https://127.0.0.1:8080/x"},

		{"https://example.com/x?", ""},
		{"https://example.com/x?a=1", ""},
		{"https://example.com/x#f", ""},
		{"/x", ""},
		{"example.com/x", ""},
		{"://example.com/x", ""},
		{"ftp://example.com/x", ""},
		{"https:/example.com/x", ""},
		{"https://", ""},
		{"https:///x", ""},
		{"https://user@example.com/x", ""},
		{"https://user:pw@example.com/x", ""},
		{"https://exa mple.com/x", ""},
		{"https://exa%6Dple.com/x", ""},
		{"https://example.com:99999/x", ""},
		{"https://example.com:0/x", ""},
		{"https://example.com:8a/x", ""},
		{"https://example.com:+80/x", ""},
		{"https://example.com:1:2/x", ""},
		{"https://[::1/x", ""},
		{"https://[::1]x/x", ""},
		{"https://[fe80::1%25eth0]/x", ""},
		{"https://[]/x", ""},
		{"https://example.com/a b", ""},
		{"https://example.com/a%", ""},
		{"https://example.com/a%4", ""},
		{"https://example.com/a%zz", ""},
		{"https://example.com/caf\u00e9", ""},
		{"https://example.com/a\"b", ""},
		{"https://example.com/a\\b", ""},
		{"https://exämple.com/x", ""},
	}
	for _, tt := range tests {
		got, err := normalizeHTU(tt.htu)
		if tt.want == "" {
			if !errors.Is(err, ErrProofURI) {
				t.Errorf("normalizeHTU(%q) = %q, %v; want refused with %v", tt.htu, got, err, ErrProofURI)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("normalizeHTU(%q) = %q, %v; want %q", tt.htu, got, err, tt.want)
		}
	}
}

func TestNormalizeRequestURI(t *testing.T) {
	tests := []struct {
		url  string
		want string // "" for refused
	}{
		{"https://example.com/x", "https://example.com/x"},
		{"https://EXAMPLE.COM:443/x?q=1#f", "https://example.com/x"},
		{"http://example.com:80", "http://example.com/"},
		{"https://user@example.com/x", "https://example.com/x"},
		{"https://example.com/%7Ex", "https://example.com/~x"},
		{"https://example.com/a%2Fb", "https://example.com/a%2Fb"},
		{"https://example.com/caf%C3%A9", "https://example.com/caf%C3%A9"},
		{"/x", ""},
		{"mailto:x@example.com", ""},
		{"ftp://example.com/x", ""},
	}
	for _, tt := range tests {
		got, err := normalizeRequestURI(mustURL(t, tt.url))
		if tt.want == "" {
			if !errors.Is(err, ErrProofURI) {
				t.Errorf("normalizeRequestURI(%q) = %q, %v; want refused", tt.url, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("normalizeRequestURI(%q) = %q, %v; want %q", tt.url, got, err, tt.want)
		}
	}
	if _, err := normalizeRequestURI(nil); !errors.Is(err, ErrProofURI) {
		t.Errorf("normalizeRequestURI(nil) error = %v", err)
	}
}

// TestVerifyHTU checks, through Verify, which htu values match which requests.
func TestVerifyHTU(t *testing.T) {
	key := newECKey(t)
	tests := []struct {
		name, htu, request string
		wantErr            error
	}{
		{"scheme and host case, default port", "HTTP://EXAMPLE.com:80/x", "http://example.com/x", nil},
		{"default port on the request side", "http://example.com/x", "http://Example.COM:80/x", nil},
		{"https default port", "https://example.com:443/x", "https://example.com/x", nil},
		{"request with a query and fragment", "https://example.com/x", "https://example.com/x?a=1#b", nil},
		{"wss for a WebSocket upgrade", "wss://example.com/chat/ws", "https://example.com/chat/ws", nil},
		{"percent-encoding of unreserved characters", "https://example.com/%7Ex", "https://example.com/~x", nil},
		{"dot segments", "https://example.com/a/../x", "https://example.com/x", nil},
		{"empty path", "https://example.com", "https://example.com/", nil},
		{"htu with a query", "https://example.com/x?a=1", "https://example.com/x?a=1", ErrProofURI},
		{"htu with a fragment", "https://example.com/x#b", "https://example.com/x", ErrProofURI},
		{"http for https", "http://example.com/x", "https://example.com/x", ErrProofURI},
		{"port 80 for https", "https://example.com:80/x", "https://example.com/x", ErrProofURI},
		{"port 443 for http", "http://example.com:443/x", "http://example.com/x", ErrProofURI},
		{"trailing slash", "https://example.com/x/", "https://example.com/x", ErrProofURI},
		{"path case", "https://example.com/X", "https://example.com/x", ErrProofURI},
		{"subdomain", "https://api.example.com/x", "https://example.com/x", ErrProofURI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newTestClock()
			req := Request{Method: "GET", URL: mustURL(t, tt.request)}
			s := newSpec(t, key, req, "", clk.t)
			s.claims["htu"] = tt.htu
			_, err := mustVerifier(t, WithClock(clk.now)).Verify(s.proof(t), req)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
