package server

import (
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"
)

func TestSameHeaderName(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"X_Api_Key", "X-Api-Key", true},
		{"x_api_key", "X-Api-Key", true},
		{"X-API-KEY", "X-Api-Key", true},
		{"X_Api-Key", "X-Api-Key", true},
		{"X-Api-Key", "X-Api-Key", true},
		{"X_Api_Keys", "X-Api-Key", false},
		{"X.Api.Key", "X-Api-Key", false},
		{"Y_Api_Key", "X-Api-Key", false},
		{"", "", true},
	}
	for _, tt := range tests {
		if got := sameHeaderName(tt.a, tt.b); got != tt.want {
			t.Errorf("sameHeaderName(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestProxyDropsUnderscoreVariants: CGI and WSGI servers read X_Api_Key as
// X-Api-Key, so a client's underscore spelling of a header jwtgate manages
// must not reach the upstream. Other underscore names pass.
func TestProxyDropsUnderscoreVariants(t *testing.T) {
	tests := []struct {
		name       string
		authHeader string
		send       http.Header
		// want are the upstream's headers, by name with case ignored, that
		// carry the given values exactly; gone must be absent.
		want map[string][]string
		gone []string
	}{
		{
			name:       "managed names",
			authHeader: "X-Goog-Api-Key",
			send: http.Header{
				"X_Api_Key":              {"client-value"},
				"X_Forwarded_For":        {"203.0.113.9"},
				"x_forwarded_host":       {"evil.example"},
				"X_Forwarded_Prefix":     {"/admin"},
				"X_Request_Id":           {"forged-id"},
				"X_Goog_Api_Key":         {"client-key"},
				"Proxy_Authorization":    {"Basic Zm9vOmJhcg=="},
				"Sec_Websocket_Protocol": {"jwtgate.bearer.x"},
				"Transfer_Encoding":      {"chunked"},
				"Dpop":                   {"proof"},
				"X_Custom_Header":        {"kept"},
				"Foo_Bar":                {"kept too"},
			},
			want: map[string][]string{
				"X-Goog-Api-Key":  {testAPIKey},
				"X-Forwarded-For": {"127.0.0.1"},
				"X_Custom_Header": {"kept"},
				"Foo_Bar":         {"kept too"},
			},
			gone: []string{"X_Api_Key", "X_Forwarded_For", "X_Forwarded_Host", "X_Forwarded_Prefix",
				"X_Request_Id", "X_Goog_Api_Key", "Proxy_Authorization", "Sec_Websocket_Protocol", "Transfer_Encoding"},
		},
		{
			// The configured key header has an underscore itself: its dashed
			// spelling is the variant.
			name:       "key header with an underscore",
			authHeader: "X_Api_Token",
			send: http.Header{
				"X-Api-Token": {"client-dashed"},
				"x_api_token": {"client-underscored"},
			},
			want: map[string][]string{"X_Api_Token": {testAPIKey}},
			gone: []string{"X-Api-Token"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newRecordingUpstream(t)
			cfg := testChatConfig(up.url)
			cfg.AuthHeader, cfg.AuthScheme = tt.authHeader, ""
			front, _ := newTestFront(t, cfg)
			req := newChatRequest(t, t.Context(), http.MethodGet, front.URL+"/chat/models", nil)
			for k, v := range tt.send {
				req.Header[k] = v // as spelled: Set would canonicalize
			}
			do(t, req)
			got := up.next(t)
			values := func(name string) []string {
				var out []string
				for k, v := range got.Header {
					if strings.EqualFold(k, name) {
						out = append(out, v...)
					}
				}
				return out
			}
			for name, want := range tt.want {
				if diff := cmp.Diff(want, values(name)); diff != "" {
					t.Errorf("upstream %s (-want +got):\n%s", name, diff)
				}
			}
			for _, name := range tt.gone {
				if v := values(name); v != nil {
					t.Errorf("upstream received %s: %q", name, v)
				}
			}
		})
	}
}

// TestProxyDropsManagedTrailers: a request's trailer announces no header
// jwtgate manages, in either spelling.
func TestProxyDropsManagedTrailers(t *testing.T) {
	trailers := make(chan http.Header, 1)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		trailers <- r.Trailer
	})
	front, _ := newTestFront(t, testChatConfig(mustParseURL(t, up.URL)))
	resp, body := sendRaw(t, front, "POST /chat/completions HTTP/1.1\r\nHost: jwtgate\r\nAuthorization: Bearer "+testSessionToken+
		"\r\nTransfer-Encoding: chunked\r\nTrailer: X_Api_Key, Authorization, X-Checksum\r\nConnection: close\r\n\r\n"+
		"2\r\n{}\r\n0\r\nX_Api_Key: client\r\nAuthorization: Bearer x\r\nX-Checksum: 1\r\n\r\n", false)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, body %s", resp.StatusCode, body)
	}
	got := <-trailers
	var names []string
	for k := range got {
		names = append(names, k)
	}
	if diff := cmp.Diff([]string{"X-Checksum"}, names); diff != "" {
		t.Errorf("trailer names the upstream was announced (-want +got):\n%s", diff)
	}
}

// TestDropManagedVariantsAllocs: the common case (no underscore) and an
// underscore name that is not managed cost no allocation.
func TestDropManagedVariantsAllocs(t *testing.T) {
	p, err := buildChatProxy(testChatConfig(mustParseURL(t, "http://127.0.0.1:1/v1")), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []http.Header{
		{"Content-Type": {"application/json"}, "Accept": {"text/event-stream"}, "User-Agent": {"sdk"}, "X-Stainless-Os": {"Linux"}},
		{"Content-Type": {"application/json"}, "X_Custom_Header": {"kept"}},
	} {
		want := len(h)
		if n := testing.AllocsPerRun(100, func() { p.dropManagedVariants(h) }); n != 0 {
			t.Errorf("dropManagedVariants(%v): %v allocations, want 0", h, n)
		}
		if len(h) != want {
			t.Errorf("dropManagedVariants dropped a header it does not manage: %v", h)
		}
	}
}

// TestProxyTrailers: an upstream's trailers obey the rules of its headers:
// Set-Cookie only with chat.allow_set_cookie, and never its X-Request-Id or
// Access-Control-*, whether announced or not.
func TestProxyTrailers(t *testing.T) {
	tests := []struct {
		name  string
		allow bool
		want  http.Header
	}{
		{"cookies dropped by default", false, http.Header{"X-Checksum": {"abc"}, "X-Late": {"late"}}},
		{"cookies kept when allowed", true, http.Header{"X-Checksum": {"abc"}, "X-Late": {"late"},
			"Set-Cookie": {"announced=1"}, "Set-Cookie2": {"late=1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Trailer", "Set-Cookie, X-Checksum, X-Request-Id")
				io.WriteString(w, "body")
				w.Header().Set("Set-Cookie", "announced=1")
				w.Header().Set("X-Checksum", "abc")
				w.Header().Set(RequestIDHeader, "upstream-id")
				// Not announced:
				w.Header().Set(http.TrailerPrefix+"Set-Cookie2", "late=1")
				w.Header().Set(http.TrailerPrefix+"Access-Control-Allow-Origin", "*")
				w.Header().Set(http.TrailerPrefix+"X-Late", "late")
			})
			cfg := testChatConfig(mustParseURL(t, up.URL))
			cfg.AllowSetCookie = tt.allow
			front, _ := newTestFront(t, cfg)
			resp, body := do(t, newChatRequest(t, t.Context(), http.MethodGet, front.URL+"/chat/models", nil))
			if body != "body" {
				t.Fatalf("body = %q", body)
			}
			if diff := cmp.Diff(tt.want, resp.Trailer); diff != "" {
				t.Errorf("trailers (-want +got):\n%s", diff)
			}
			if v := resp.Header.Values("Set-Cookie"); v != nil {
				t.Errorf("Set-Cookie header %q", v)
			}
		})
	}
}

// TestProxyKeepsOwnHeadersThrough1xx: ReverseProxy clears the response
// headers after an upstream's 1xx, which took jwtgate's X-Request-Id (and its
// CORS headers) off the final response.
func TestProxyKeepsOwnHeadersThrough1xx(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Link", "</style.css>; rel=preload")
		h.Set("Set-Cookie", "early=1")
		h.Set(RequestIDHeader, "upstream-id")
		w.WriteHeader(http.StatusEarlyHints)
		h.Del("Link")
		h.Del("Set-Cookie")
		h.Del(RequestIDHeader)
		h.Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
	})
	ownHeaders := func(c *gin.Context) { // what observe and the CORS middleware set
		c.Header(RequestIDHeader, "jwtgate-id")
		c.Header("Access-Control-Allow-Origin", "https://app.example")
		c.Next()
	}
	front, _ := newTestFront(t, testChatConfig(mustParseURL(t, up.URL)), ownHeaders, testClaims)
	var informational []int
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
		informational = append(informational, code)
		return nil
	}}
	req := newChatRequest(t, httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, front.URL+"/chat/models", nil)
	resp, body := do(t, req)
	if resp.StatusCode != http.StatusOK || body != "{}" {
		t.Fatalf("response %d %q", resp.StatusCode, body)
	}
	if got := resp.Header.Values(RequestIDHeader); len(got) != 1 || got[0] != "jwtgate-id" {
		t.Errorf("X-Request-Id = %q, want [jwtgate-id]", got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("Access-Control-Allow-Origin = %q, want jwtgate's", got)
	}
	if informational != nil {
		t.Errorf("informational answers passed on: %v", informational)
	}
	if v := resp.Header.Values("Set-Cookie"); v != nil {
		t.Errorf("Set-Cookie %q", v)
	}
}
