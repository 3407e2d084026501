package server

import (
	"net/http"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/h1"
)

// TestChatProxyTransportByScheme: a plain-http upstream is reached through
// pkg/h1, an https one through net/http's transport (TLS, HTTP/2).
func TestChatProxyTransportByScheme(t *testing.T) {
	for _, tt := range []struct {
		url  string
		isH1 bool
	}{
		{"http://127.0.0.1:9/v1", true},
		{"https://chat.example.test/v1", false},
	} {
		p, err := buildChatProxy(testChatConfig(mustParseURL(t, tt.url)), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, isH1 := p.rp.Transport.(*h1.Transport)
		_, isNet := p.rp.Transport.(*http.Transport)
		if isH1 != tt.isH1 || isNet == tt.isH1 {
			t.Errorf("%s: transport is %T", tt.url, p.rp.Transport)
		}
	}
}
