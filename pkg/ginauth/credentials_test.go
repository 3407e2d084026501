package ginauth_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"

	"github.com/jwtgate/jwtgate/pkg/ginauth"
)

// jws is a token68 shaped like a JWS, for the sources that carry one.
const jws = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"

// upgrade returns the headers of a WebSocket upgrade plus extra.
func upgrade(extra http.Header) http.Header {
	h := http.Header{
		"Connection":            {"Upgrade"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Sec-Websocket-Version": {"13"},
	}
	for k, v := range extra {
		h[http.CanonicalHeaderKey(k)] = v
	}
	return h
}

func TestCredentialSources(t *testing.T) {
	const (
		apiKey = "x-api-key"      // ginauth.WithXAPIKey
		proto  = "ws-subprotocol" // ginauth.WithWebSocketProtocol
	)
	tests := []struct {
		name       string
		sources    []string // options beyond the default
		method     string   // default GET
		header     http.Header
		wantStatus int
		wantToken  string // what the verifier is given; empty: not called
		wantErr    error  // what the error hook is given; nil on success
	}{
		// The default reads Authorization alone.
		{name: "default: bearer", header: http.Header{"Authorization": {"Bearer " + jws}}, wantStatus: 200, wantToken: jws},
		{name: "default: X-API-Key ignored", header: http.Header{"X-Api-Key": {jws}}, wantStatus: 401, wantErr: ginauth.ErrNoToken},
		{name: "default: X-API-Key beside bearer ignored", header: http.Header{"Authorization": {"Bearer " + jws}, "X-Api-Key": {"sk-real-key"}}, wantStatus: 200, wantToken: jws},
		{name: "default: subprotocol ignored", header: upgrade(http.Header{"Sec-Websocket-Protocol": {"jwtgate.bearer." + jws}}), wantStatus: 401, wantErr: ginauth.ErrNoToken},

		// X-API-Key.
		{name: "x-api-key", sources: []string{apiKey}, header: http.Header{"X-Api-Key": {jws}}, wantStatus: 200, wantToken: jws},
		{name: "x-api-key, bearer", sources: []string{apiKey}, header: http.Header{"Authorization": {"Bearer " + jws}}, wantStatus: 200, wantToken: jws},
		{name: "x-api-key empty", sources: []string{apiKey}, header: http.Header{"X-Api-Key": {""}}, wantStatus: 401, wantErr: ginauth.ErrNoToken},
		{name: "x-api-key not token68", sources: []string{apiKey}, header: http.Header{"X-Api-Key": {"a b"}}, wantStatus: 400, wantErr: ginauth.ErrBadRequest},
		{name: "x-api-key comma list", sources: []string{apiKey}, header: http.Header{"X-Api-Key": {jws + "," + jws}}, wantStatus: 400, wantErr: ginauth.ErrBadRequest},
		{name: "x-api-key padding inside", sources: []string{apiKey}, header: http.Header{"X-Api-Key": {"a=b"}}, wantStatus: 400, wantErr: ginauth.ErrBadRequest},
		{name: "x-api-key twice", sources: []string{apiKey}, header: http.Header{"X-Api-Key": {jws, jws}}, wantStatus: 400, wantErr: ginauth.ErrBadRequest},
		{name: "x-api-key and bearer, equal", sources: []string{apiKey}, header: http.Header{"Authorization": {"Bearer " + jws}, "X-Api-Key": {jws}}, wantStatus: 400, wantErr: ginauth.ErrBadRequest},
		{name: "x-api-key and basic", sources: []string{apiKey}, header: http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}, "X-Api-Key": {jws}}, wantStatus: 400, wantErr: ginauth.ErrBadRequest},
		{name: "x-api-key and empty authorization", sources: []string{apiKey}, header: http.Header{"Authorization": {""}, "X-Api-Key": {jws}}, wantStatus: 200, wantToken: jws},

		// Subprotocols, on a WebSocket upgrade only.
		{name: "jwtgate.bearer", sources: []string{proto}, header: upgrade(http.Header{"Sec-Websocket-Protocol": {"realtime, jwtgate.bearer." + jws}}), wantStatus: 200, wantToken: jws},
		{name: "openai-insecure-api-key", sources: []string{proto}, header: upgrade(http.Header{"Sec-Websocket-Protocol": {"realtime", "openai-insecure-api-key." + jws, "openai-beta.realtime-v1"}}), wantStatus: 200, wantToken: jws},
		{name: "prefix in another case", sources: []string{proto}, header: upgrade(http.Header{"Sec-Websocket-Protocol": {"JWTGate.Bearer." + jws}}), wantStatus: 200, wantToken: jws},
		{name: "list with empty elements and tabs", sources: []string{proto}, header: upgrade(http.Header{"Sec-Websocket-Protocol": {",\trealtime ,, jwtgate.bearer." + jws + " ,"}}), wantStatus: 200, wantToken: jws},
		{name: "only other subprotocols", sources: []string{proto}, header: upgrade(http.Header{"Sec-Websocket-Protocol": {"realtime, jwtgate.dpop.proof"}}), wantStatus: 401, wantErr: ginauth.ErrNoToken},
		{name: "subprotocol and bearer header", sources: []string{proto}, header: upgrade(http.Header{"Sec-Websocket-Protocol": {"jwtgate.bearer." + jws}, "Authorization": {"Bearer " + jws}}), wantStatus: 400, wantErr: ginauth.ErrBadRequest},
		{name: "subprotocol and x-api-key", sources: []string{proto, apiKey}, header: upgrade(http.Header{"Sec-Websocket-Protocol": {"jwtgate.bearer." + jws}, "X-Api-Key": {jws}}), wantStatus: 400, wantErr: ginauth.ErrBadRequest},
		{name: "two entries, equal", sources: []string{proto}, header: upgrade(http.Header{"Sec-Websocket-Protocol": {"jwtgate.bearer." + jws + ", jwtgate.bearer." + jws}}), wantStatus: 400, wantErr: ginauth.ErrBadRequest},
		{name: "two entries in two headers", sources: []string{proto}, header: upgrade(http.Header{"Sec-Websocket-Protocol": {"jwtgate.bearer." + jws, "openai-insecure-api-key." + jws}}), wantStatus: 400, wantErr: ginauth.ErrBadRequest},
		{name: "empty token", sources: []string{proto}, header: upgrade(http.Header{"Sec-Websocket-Protocol": {"realtime, jwtgate.bearer."}}), wantStatus: 400, wantErr: ginauth.ErrBadRequest},
		{name: "entry not a token", sources: []string{proto}, header: upgrade(http.Header{"Sec-Websocket-Protocol": {"realtime, jwtgate.bearer.a=b"}}), wantStatus: 400, wantErr: ginauth.ErrBadRequest},
		{name: "entry with a space", sources: []string{proto}, header: upgrade(http.Header{"Sec-Websocket-Protocol": {"jwtgate.bearer.a b"}}), wantStatus: 400, wantErr: ginauth.ErrBadRequest},
		{name: "entry with a slash", sources: []string{proto}, header: upgrade(http.Header{"Sec-Websocket-Protocol": {"jwtgate.bearer.a/b"}}), wantStatus: 400, wantErr: ginauth.ErrBadRequest},
		{name: "not an upgrade: no Upgrade header", sources: []string{proto}, header: http.Header{"Connection": {"Upgrade"}, "Sec-Websocket-Protocol": {"jwtgate.bearer." + jws}}, wantStatus: 401, wantErr: ginauth.ErrNoToken},
		{name: "not an upgrade: no Connection upgrade", sources: []string{proto}, header: http.Header{"Connection": {"keep-alive"}, "Upgrade": {"websocket"}, "Sec-Websocket-Protocol": {"jwtgate.bearer." + jws}}, wantStatus: 401, wantErr: ginauth.ErrNoToken},
		{name: "not an upgrade: h2c", sources: []string{proto}, header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"h2c"}, "Sec-Websocket-Protocol": {"jwtgate.bearer." + jws}}, wantStatus: 401, wantErr: ginauth.ErrNoToken},
		{name: "not an upgrade: POST", sources: []string{proto}, method: http.MethodPost, header: upgrade(http.Header{"Sec-Websocket-Protocol": {"jwtgate.bearer." + jws}}), wantStatus: 401, wantErr: ginauth.ErrNoToken},
		{name: "upgrade, token in Authorization", sources: []string{proto}, header: upgrade(http.Header{"Authorization": {"Bearer " + jws}, "Sec-Websocket-Protocol": {"realtime"}}), wantStatus: 200, wantToken: jws},
		{name: "connection token list", sources: []string{proto}, header: http.Header{"Connection": {"keep-alive, Upgrade"}, "Upgrade": {"WebSocket"}, "Sec-Websocket-Protocol": {"jwtgate.bearer." + jws}}, wantStatus: 200, wantToken: jws},

		// Never the query string, a form or a cookie.
		{name: "cookie", sources: []string{proto, apiKey}, header: http.Header{"Cookie": {"access_token=" + jws}}, wantStatus: 401, wantErr: ginauth.ErrNoToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []ginauth.Option{}
			for _, s := range tt.sources {
				switch s {
				case apiKey:
					opts = append(opts, ginauth.WithXAPIKey())
				case proto:
					opts = append(opts, ginauth.WithWebSocketProtocol())
				}
			}
			fv := &fakeVerifier{claims: fakeClaims()}
			var hookErrs []error
			opts = append(opts, ginauth.WithErrorHook(func(_ *gin.Context, err error) { hookErrs = append(hookErrs, err) }))
			r := gin.New()
			r.Any("/protected", ginauth.New(fv, opts...), func(c *gin.Context) { c.Status(http.StatusOK) })

			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			req := httptest.NewRequest(method, "/protected", nil)
			req.Header = tt.header.Clone()
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)

			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", rec.Code, tt.wantStatus, rec.Body)
			}
			calls := fv.calls()
			switch {
			case tt.wantToken == "" && len(calls) != 0:
				t.Errorf("verifier called with %d tokens, want none", len(calls))
			case tt.wantToken != "" && (len(calls) != 1 || calls[0] != tt.wantToken):
				t.Errorf("verifier got %q, want [%q]", calls, tt.wantToken)
			}
			if tt.wantErr == nil {
				if len(hookErrs) != 0 {
					t.Errorf("error hook called with %v on success", hookErrs)
				}
				return
			}
			if len(hookErrs) != 1 || !errors.Is(hookErrs[0], tt.wantErr) {
				t.Fatalf("error hook got %v, want one error wrapping %v", hookErrs, tt.wantErr)
			}
			body := decodeError(t, rec)
			if tt.wantStatus == 400 && body.Error != ginauth.CodeInvalidRequest {
				t.Errorf("body = %+v, want error invalid_request", body)
			}
			// Whatever was malformed, neither the body, the challenge nor the
			// hook's error repeats it.
			for _, where := range []string{rec.Body.String(), rec.Header().Get("WWW-Authenticate"), hookErrs[0].Error()} {
				if strings.Contains(where, jws) || strings.Contains(where, "a=b") || strings.Contains(where, "a/b") {
					t.Errorf("refusal quotes the credential: %s", where)
				}
			}
		})
	}
}

// TestQueryTokenIgnored checks that a token in the query or a form body never
// authenticates, whatever sources are on.
func TestQueryTokenIgnored(t *testing.T) {
	fv := &fakeVerifier{claims: fakeClaims()}
	r := gin.New()
	r.Any("/protected", ginauth.New(fv, ginauth.WithXAPIKey(), ginauth.WithWebSocketProtocol()), func(c *gin.Context) { c.Status(http.StatusOK) })
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/protected?access_token="+jws+"&api_key="+jws, nil),
		httptest.NewRequest(http.MethodPost, "/protected", strings.NewReader("access_token="+jws)),
	} {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%s %s: status = %d, want 401", req.Method, req.URL, rec.Code)
		}
	}
	if calls := fv.calls(); len(calls) != 0 {
		t.Errorf("verifier called with %q", calls)
	}
}

func TestSubprotocols(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   []string
		wantOK bool
	}{
		{name: "none", wantOK: true},
		{name: "one", values: []string{"realtime"}, want: []string{"realtime"}, wantOK: true},
		{name: "list and repeated header", values: []string{"a, b", "c"}, want: []string{"a", "b", "c"}, wantOK: true},
		{name: "whitespace and empty elements", values: []string{" a ,\t, b\t", ""}, want: []string{"a", "b"}, wantOK: true},
		{name: "duplicates kept", values: []string{"a, a"}, want: []string{"a", "a"}, wantOK: true},
		{name: "separator inside", values: []string{"a;b"}, wantOK: false},
		{name: "space inside", values: []string{"a b"}, wantOK: false},
		{name: "quoted", values: []string{`"a"`}, wantOK: false},
		{name: "non-ASCII", values: []string{"ä"}, wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ginauth.Subprotocols(http.Header{"Sec-Websocket-Protocol": tt.values})
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIsCredentialProtocol(t *testing.T) {
	for entry, want := range map[string]bool{
		"jwtgate.bearer." + jws:          true,
		"JWTGATE.BEARER.x":               true,
		"openai-insecure-api-key." + jws: true,
		"OpenAI-Insecure-API-Key.x":      true,
		"jwtgate.dpop.proof":             true, // jwtgate's namespace is jwtgate's alone
		"jwtgate.":                       true,
		"realtime":                       false,
		"openai-beta.realtime-v1":        false,
		"openai-insecure-api-key":        false, // carries nothing
		"jwtgate":                        false,
		"xjwtgate.bearer.x":              false,
	} {
		if got := ginauth.IsCredentialProtocol(entry); got != want {
			t.Errorf("IsCredentialProtocol(%q) = %v, want %v", entry, got, want)
		}
	}
}

func TestIsWebSocketUpgrade(t *testing.T) {
	tests := []struct {
		name   string
		method string
		header http.Header
		want   bool
	}{
		{name: "upgrade", method: http.MethodGet, header: upgrade(nil), want: true},
		{name: "case and lists", method: http.MethodGet, header: http.Header{"Connection": {"keep-alive, UPGRADE"}, "Upgrade": {"WebSocket"}}, want: true},
		{name: "POST", method: http.MethodPost, header: upgrade(nil)},
		{name: "no Connection", method: http.MethodGet, header: http.Header{"Upgrade": {"websocket"}}},
		{name: "h2c", method: http.MethodGet, header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"h2c"}}},
		{name: "plain GET", method: http.MethodGet, header: http.Header{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/", nil)
			r.Header = tt.header
			if got := ginauth.IsWebSocketUpgrade(r); got != tt.want {
				t.Errorf("IsWebSocketUpgrade = %v, want %v", got, tt.want)
			}
		})
	}
}
