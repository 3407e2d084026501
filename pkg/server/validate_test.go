package server_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/pkg/server"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// chatCases are configurations of chat.* that ChatConfig.Validate accepts ("")
// or refuses with an error naming the key.
func chatCases(t *testing.T) []struct {
	name    string
	edit    func(*server.ChatConfig)
	wantKey string
} {
	u := func(s string) *url.URL {
		t.Helper()
		v, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	return []struct {
		name    string
		edit    func(*server.ChatConfig)
		wantKey string
	}{
		{"echo backend", func(*server.ChatConfig) {}, ""},
		{"upstream", func(c *server.ChatConfig) { c.UpstreamURL = u("https://127.0.0.1:9/v1") }, ""},
		{"upstream with query", func(c *server.ChatConfig) { c.UpstreamURL = u("https://127.0.0.1:9/openai?api-version=1") }, ""},
		{"zero limits are off", func(c *server.ChatConfig) {
			c.EchoDelay, c.ConnectTimeout, c.ResponseHeaderTimeout, c.IdleTimeout, c.MaxStreamDuration, c.MaxBodyBytes = 0, 0, 0, 0, 0, 0
		}, ""},
		{"empty header is Authorization", func(c *server.ChatConfig) { c.AuthHeader = "" }, ""},
		{"empty scheme sends the bare key", func(c *server.ChatConfig) { c.AuthScheme = "" }, ""},
		{"allowed paths", func(c *server.ChatConfig) { c.AllowedPaths = []string{"/", "/v1/chat", "/v1/models/"} }, ""},

		{"upstream scheme", func(c *server.ChatConfig) { c.UpstreamURL = u("ftp://127.0.0.1/") }, "chat.upstream_url"},
		{"upstream without host", func(c *server.ChatConfig) { c.UpstreamURL = u("http:///v1") }, "chat.upstream_url"},
		{"upstream relative", func(c *server.ChatConfig) { c.UpstreamURL = u("/v1") }, "chat.upstream_url"},
		{"upstream opaque", func(c *server.ChatConfig) { c.UpstreamURL = u("http:127.0.0.1") }, "chat.upstream_url"},
		{"upstream user info", func(c *server.ChatConfig) { c.UpstreamURL = u("http://u:p@127.0.0.1/") }, "chat.upstream_url"},
		{"upstream fragment", func(c *server.ChatConfig) { c.UpstreamURL = u("http://127.0.0.1/#x") }, "chat.upstream_url"},
		{"header with space", func(c *server.ChatConfig) { c.AuthHeader = "X Key" }, "chat.upstream_auth_header"},
		{"header with colon", func(c *server.ChatConfig) { c.AuthHeader = "X-Key:" }, "chat.upstream_auth_header"},
		{"scheme with space", func(c *server.ChatConfig) { c.AuthScheme = "Bearer x" }, "chat.upstream_auth_scheme"},
		{"scheme with CRLF", func(c *server.ChatConfig) { c.AuthScheme = "Bearer\r\nX: y" }, "chat.upstream_auth_scheme"},
		{"negative echo delay", func(c *server.ChatConfig) { c.EchoDelay = -time.Millisecond }, "chat.echo_delay"},
		{"negative connect timeout", func(c *server.ChatConfig) { c.ConnectTimeout = -1 }, "chat.connect_timeout"},
		{"negative header timeout", func(c *server.ChatConfig) { c.ResponseHeaderTimeout = -1 }, "chat.response_header_timeout"},
		{"negative idle timeout", func(c *server.ChatConfig) { c.IdleTimeout = -1 }, "chat.idle_timeout"},
		{"negative stream duration", func(c *server.ChatConfig) { c.MaxStreamDuration = -1 }, "chat.max_stream_duration"},
		{"negative body limit", func(c *server.ChatConfig) { c.MaxBodyBytes = -1 }, "chat.max_body_bytes"},
		{"relative allowed path", func(c *server.ChatConfig) { c.AllowedPaths = []string{"/v1", "v2"} }, "chat.allowed_paths"},
		{"unclean allowed path", func(c *server.ChatConfig) { c.AllowedPaths = []string{"/v1/../admin"} }, "chat.allowed_paths"},
		{"allowed path with empty segment", func(c *server.ChatConfig) { c.AllowedPaths = []string{"/v1//chat"} }, "chat.allowed_paths"},
		{"allowed path with percent", func(c *server.ChatConfig) { c.AllowedPaths = []string{"/v1/%2e%2e"} }, "chat.allowed_paths"},
		{"empty allowed path", func(c *server.ChatConfig) { c.AllowedPaths = []string{""} }, "chat.allowed_paths"},
		{"allowed methods narrowed", func(c *server.ChatConfig) { c.AllowedMethods = []string{"POST", "OPTIONS"} }, ""},
		{"no allowed methods: the default", func(c *server.ChatConfig) { c.AllowedMethods = []string{} }, ""},
		{"TRACE allowed", func(c *server.ChatConfig) { c.AllowedMethods = []string{"GET", "TRACE"} }, "chat.allowed_methods[1]"},
		{"CONNECT allowed", func(c *server.ChatConfig) { c.AllowedMethods = []string{"CONNECT"} }, "chat.allowed_methods[0]"},
		{"lower case method", func(c *server.ChatConfig) { c.AllowedMethods = []string{"get"} }, "chat.allowed_methods[0]"},
		{"unknown method", func(c *server.ChatConfig) { c.AllowedMethods = []string{"POST", "PROPFIND"} }, "chat.allowed_methods[1]"},
		{"method not a token", func(c *server.ChatConfig) { c.AllowedMethods = []string{"GET POST"} }, "chat.allowed_methods[0]"},
		{"empty method", func(c *server.ChatConfig) { c.AllowedMethods = []string{""} }, "chat.allowed_methods[0]"},
	}
}

// testDeps are an issuer and a verifier on the test key set, for calling New.
func testDeps(t *testing.T) server.Deps {
	t.Helper()
	ks := newTestKeySet(t)
	iss, err := token.NewIssuer(ks, testIssuer, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := token.NewVerifier(ks, testIssuer, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	return server.Deps{Issuer: iss, Verifier: ver}
}

func validChat() server.ChatConfig {
	return server.ChatConfig{
		AuthHeader:            "Authorization",
		AuthScheme:            "Bearer",
		EchoDelay:             time.Millisecond,
		ConnectTimeout:        time.Second,
		ResponseHeaderTimeout: time.Second,
		IdleTimeout:           time.Minute,
		MaxStreamDuration:     time.Minute,
		MaxBodyBytes:          4096,
	}
}

// TestChatConfigValidate checks ChatConfig.Validate, the owner of the chat.*
// rules, and that New refuses exactly what it refuses, with the echo backend as
// with the proxy: a configuration New would refuse at the next start must not
// pass Validate, which a reload runs.
func TestChatConfigValidate(t *testing.T) {
	for _, tt := range chatCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			c := validChat()
			tt.edit(&c)
			err := c.Validate()
			if tt.wantKey == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
			} else if err == nil || !strings.HasPrefix(err.Error(), tt.wantKey+":") {
				t.Fatalf("Validate = %v, want an error naming %s", err, tt.wantKey)
			}
			if err != nil && c.UpstreamURL != nil && c.UpstreamURL.User != nil && strings.Contains(err.Error(), "u:p") {
				t.Errorf("error %q quotes the upstream URL's credentials", err)
			}

			cfg := testConfig()
			cfg.Chat = c
			if _, newErr := server.New(cfg, testDeps(t)); (newErr != nil) != (err != nil) {
				t.Errorf("Validate = %v, but New = %v", err, newErr)
			}
		})
	}
}

// TestChatConfigValidateReportsAll checks that every problem is reported at once.
func TestChatConfigValidateReportsAll(t *testing.T) {
	c := validChat()
	c.IdleTimeout, c.MaxBodyBytes, c.AuthHeader = -1, -1, "bad header"
	c.AllowedPaths = []string{"/ok", "/../x", "rel"}
	err := c.Validate()
	var n int
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		n = len(j.Unwrap())
	}
	if n != 5 {
		t.Errorf("Validate reported %d problems, want 5: %v", n, err)
	}
	if errors.Unwrap(err) != nil {
		t.Errorf("Validate's error unwraps to one error, want a joined list")
	}
}
