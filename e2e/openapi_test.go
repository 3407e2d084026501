package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// specFile is the OpenAPI document of jwtgate's HTTP API.
const specFile = "../api/openapi.yaml"

// apiSpec is the loaded OpenAPI document with a router over its paths. It records
// which paths and statuses the test's real responses exercised.
type apiSpec struct {
	doc    *openapi3.T
	router routers.Router
	paths  map[string]bool // path template -> answered at least once
	codes  map[int]bool
}

// loadSpec loads and validates api/openapi.yaml.
func loadSpec(t *testing.T) *apiSpec {
	t.Helper()
	loader := openapi3.NewLoader()
	loader.Context = t.Context()
	doc, err := loader.LoadFromFile(specFile)
	if err != nil {
		t.Fatalf("loading %s: %v", specFile, err)
	}
	if !doc.IsOpenAPI31OrLater() || doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(t.Context(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", specFile, err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("routing %s: %v", specFile, err)
	}
	return &apiSpec{doc: doc, router: router, paths: map[string]bool{}, codes: map[int]bool{}}
}

// specCall is one real request to a server and what the spec says of it.
type specCall struct {
	name string
	req  request
	// status is the status the server must answer.
	status int
	// validRequest: the request itself must satisfy the spec (the deliberately
	// broken ones do not).
	validRequest bool
	// unrouted names the components.responses entry that describes the answer to
	// a request no path or method of the spec covers (404, gin's 405).
	unrouted string
}

// check sends x.req to s, checks the status, and validates the response
// (status, headers, body) against the spec. For a request the spec routes,
// the operation's responses apply; otherwise the component x.unrouted.
func (sp *apiSpec) check(t *testing.T, s *server, x specCall) *response {
	t.Helper()
	resp := s.do(t, x.req)
	if resp.Status != x.status {
		t.Fatalf("%s: %s %s = %d, want %d; body %s", x.name, x.req.Method, x.req.Path, resp.Status, x.status, resp.Body)
	}
	httpReq := sp.httpRequest(t, s, x.req)
	route, params, err := sp.router.FindRoute(httpReq)
	switch {
	case err == nil && x.unrouted == "":
	case x.unrouted != "" && (errors.Is(err, routers.ErrPathNotFound) || errors.Is(err, routers.ErrMethodNotAllowed)):
		ref := sp.doc.Components.Responses[x.unrouted]
		if ref == nil {
			t.Fatalf("%s: the spec has no components.responses.%s", x.name, x.unrouted)
		}
		op := openapi3.NewOperation()
		op.Responses = openapi3.NewResponses(openapi3.WithStatus(x.status, ref))
		route, params = &routers.Route{Spec: sp.doc, Method: x.req.Method, Operation: op}, nil
	default:
		t.Fatalf("%s: %s %s: routing in the spec: %v (unrouted %q)", x.name, x.req.Method, x.req.Path, err, x.unrouted)
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	in := &openapi3filter.RequestValidationInput{Request: httpReq, PathParams: params, Route: route, Options: opts}
	if x.validRequest {
		if err := openapi3filter.ValidateRequest(t.Context(), in); err != nil {
			t.Errorf("%s: the request does not match the spec: %v", x.name, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.Status, Header: resp.Header, Options: opts}
	out.SetBodyBytes(resp.Body)
	if err := openapi3filter.ValidateResponse(t.Context(), out); err != nil {
		t.Errorf("%s: %s %s: the %d response does not match the spec: %v\nheaders %v\nbody %s",
			x.name, x.req.Method, x.req.Path, resp.Status, err, resp.Header, resp.Body)
	}
	if route.Path != "" {
		sp.paths[route.Path] = true
	}
	sp.codes[resp.Status] = true
	return resp
}

// httpRequest rebuilds r as the *http.Request the spec's router and request
// validator read (the one sent is consumed by then).
func (sp *apiSpec) httpRequest(t *testing.T, s *server, r request) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), r.Method, s.URL+r.Path, strings.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	if r.Body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	return req
}

// TestOpenAPI starts the real binary twice (with the echo backend, and as a
// proxy in front of a test upstream with an EdDSA key), makes requests covering
// every path of api/openapi.yaml and the main error statuses, and validates each
// real response against the spec.
func TestOpenAPI(t *testing.T) {
	sp := loadSpec(t)
	sp.checkNotVacuous(t)

	secret, apiKey := newSecret(t), newAPIKey(t)
	echo := startServer(t, []string{
		"JWTGATE_JWT_SECRET=" + secret,
		"JWTGATE_CHAT_ECHO_DELAY=1ms",
		"JWTGATE_CHAT_MAX_BODY_BYTES=2048",
		"JWTGATE_SERVER_MAX_BODY_BYTES=1024",
		"JWTGATE_API_KEYS_ALLOWED=" + apiKey,
		"JWTGATE_RATE_LIMIT_SESSIONS_PER_MINUTE=0", // 429 is checked on the proxy
	})
	key := map[string]string{"X-API-Key": apiKey}
	plain := map[string]string{"Content-Type": "text/plain"}
	post, get := http.MethodPost, http.MethodGet
	chatBody := `{"model":"echo","messages":[{"role":"user","content":"validate me"}]}`

	var tok string
	for _, x := range []specCall{
		{name: "liveness", req: request{Method: get, Path: "/healthz"}, status: 200, validRequest: true},
		{name: "readiness", req: request{Method: get, Path: "/readyz"}, status: 200, validRequest: true},
		{name: "metrics", req: request{Method: get, Path: "/metrics"}, status: 200, validRequest: true},
		{name: "JWKS of HMAC keys", req: request{Method: get, Path: "/.well-known/jwks.json"}, status: 200, validRequest: true},
		{name: "session by header", req: request{Method: post, Path: "/sessions", Header: key}, status: 201, validRequest: true},
	} {
		resp := sp.check(t, echo, x)
		if x.req.Path == "/sessions" {
			var sess session
			resp.JSON(t, &sess)
			tok = sess.AccessToken
		}
	}
	tooBig := `{"api_key":"` + strings.Repeat("k", 2048) + `"}`
	for _, x := range []specCall{
		{name: "session by body", req: request{Method: post, Path: "/sessions", Body: `{"api_key":"` + apiKey + `","subject":"alice","ttl":60}`}, status: 201, validRequest: true},
		{name: "session: bad JSON", req: request{Method: post, Path: "/sessions", Body: `{"api_key":`}, status: 400},
		{name: "session: unknown member", req: request{Method: post, Path: "/sessions", Header: key, Body: `{"admin":true}`}, status: 400},
		{name: "session: no key", req: request{Method: post, Path: "/sessions"}, status: 400, validRequest: true},
		{name: "session: key not allowed", req: request{Method: post, Path: "/sessions", Header: map[string]string{"X-API-Key": newAPIKey(t)}}, status: 401, validRequest: true},
		{name: "session: body too large", req: request{Method: post, Path: "/sessions", Body: tooBig}, status: 413},
		{name: "session: not JSON", req: request{Method: post, Path: "/sessions", Header: plain, Body: "api_key=x"}, status: 415},
		{name: "session: method", req: request{Method: http.MethodDelete, Path: "/sessions"}, status: 405, unrouted: "MethodNotAllowed"},
		{name: "current", req: request{Method: get, Path: "/sessions/current", Token: tok}, status: 200, validRequest: true},
		{name: "current: no token", req: request{Method: get, Path: "/sessions/current"}, status: 401},
		{name: "current: tampered token", req: request{Method: get, Path: "/sessions/current", Token: tamper(t, tok)}, status: 401, validRequest: true},
		{name: "current: malformed Authorization", req: request{Method: get, Path: "/sessions/current", Header: map[string]string{"Authorization": "Bearer two tokens"}}, status: 400},
		{name: "refresh", req: request{Method: post, Path: "/sessions/refresh", Token: tok}, status: 200, validRequest: true},
		{name: "refresh with ttl", req: request{Method: post, Path: "/sessions/refresh", Token: tok, Body: `{"ttl":30}`}, status: 200, validRequest: true},
		{name: "refresh: bad ttl", req: request{Method: post, Path: "/sessions/refresh", Token: tok, Body: `{"ttl":"soon"}`}, status: 400},
		{name: "refresh: not JSON", req: request{Method: post, Path: "/sessions/refresh", Token: tok, Header: plain, Body: "ttl=30"}, status: 415},
		{name: "refresh: too large", req: request{Method: post, Path: "/sessions/refresh", Token: tok, Body: `{"ttl":1` + strings.Repeat(" ", 2048) + `}`}, status: 413},
		{name: "refresh: no token", req: request{Method: post, Path: "/sessions/refresh"}, status: 401},
		{name: "chat", req: request{Method: post, Path: "/chat/completions", Token: tok, Body: chatBody}, status: 200, validRequest: true},
		{name: "chat: bad JSON", req: request{Method: post, Path: "/chat/completions", Token: tok, Body: `{"messages":`}, status: 400},
		{name: "chat: no user message", req: request{Method: post, Path: "/chat/completions", Token: tok, Body: `{"messages":[{"role":"system","content":"x"}]}`}, status: 400, validRequest: true},
		{name: "chat: no token", req: request{Method: post, Path: "/chat/completions", Body: chatBody}, status: 401},
		{name: "chat: not JSON", req: request{Method: post, Path: "/chat/completions", Token: tok, Header: plain, Body: "hello"}, status: 415},
		{name: "chat: too large", req: request{Method: post, Path: "/chat/completions", Token: tok, Body: `{"messages":[{"role":"user","content":"` + strings.Repeat("a", 4096) + `"}]}`}, status: 413},
		{name: "chat: echo method", req: request{Method: get, Path: "/chat/completions", Token: tok}, status: 405, validRequest: true},
		{name: "chat: echo path", req: request{Method: get, Path: "/chat/embeddings", Token: tok}, status: 404, validRequest: true},
		{name: "chat, the SDKs' path", req: request{Method: post, Path: "/chat/chat/completions", Token: tok, Body: chatBody}, status: 200, validRequest: true},
		{name: "chat, cut at max_tokens", req: request{Method: post, Path: "/chat/chat/completions", Token: tok, Body: `{"max_tokens":1,"messages":[{"role":"user","content":"two words"}]}`}, status: 200, validRequest: true},
		{name: "chat: max_tokens zero", req: request{Method: post, Path: "/chat/chat/completions", Token: tok, Body: `{"max_tokens":0,"messages":[{"role":"user","content":"x"}]}`}, status: 400},
		{name: "models", req: request{Method: get, Path: "/chat/models", Token: tok}, status: 200, validRequest: true},
		{name: "model", req: request{Method: get, Path: "/chat/models/gpt-4o-mini", Token: tok}, status: 200, validRequest: true},
		{name: "models: no token", req: request{Method: get, Path: "/chat/models"}, status: 401},
		{name: "responses", req: request{Method: post, Path: "/chat/responses", Token: tok, Body: `{"model":"echo","instructions":"be brief","input":[{"role":"user","content":[{"type":"input_text","text":"validate me"}]}]}`}, status: 200, validRequest: true},
		{name: "responses, cut", req: request{Method: post, Path: "/chat/responses", Token: tok, Body: `{"model":"echo","max_output_tokens":1,"input":"validate me"}`}, status: 200, validRequest: true},
		{name: "responses: no input", req: request{Method: post, Path: "/chat/responses", Token: tok, Body: `{"model":"echo"}`}, status: 400},
		{name: "responses: not JSON", req: request{Method: post, Path: "/chat/responses", Token: tok, Header: plain, Body: "hello"}, status: 415},
		{name: "messages", req: request{Method: post, Path: "/chat/v1/messages", Token: tok, Body: `{"model":"echo","max_tokens":64,"system":"be brief","messages":[{"role":"user","content":"validate me"}]}`}, status: 200, validRequest: true},
		{name: "messages: no max_tokens", req: request{Method: post, Path: "/chat/v1/messages", Token: tok, Body: `{"model":"echo","messages":[{"role":"user","content":"x"}]}`}, status: 400},
		{name: "messages: too large", req: request{Method: post, Path: "/chat/v1/messages", Token: tok, Body: `{"max_tokens":1,"messages":[{"role":"user","content":"` + strings.Repeat("a", 4096) + `"}]}`}, status: 413},
		{name: "session with limits", req: request{Method: post, Path: "/sessions", Header: key, Body: `{"limits":{"models":["echo-*"],"paths":["/completions"],"max_output_tokens":64,"total_tokens":1000}}`}, status: 201, validRequest: true},
		{name: "session: malformed limits", req: request{Method: post, Path: "/sessions", Header: key, Body: `{"limits":{"models":["a*b"]}}`}, status: 400},
		{name: "unknown route", req: request{Method: get, Path: "/admin"}, status: 404, unrouted: "NotFound"},
		{name: "ops: method", req: request{Method: http.MethodPut, Path: "/healthz"}, status: 405, unrouted: "MethodNotAllowed"},
	} {
		sp.check(t, echo, x)
	}
	for _, st := range []struct{ path, body, schema string }{
		{"/chat/completions", `{"model":"echo","stream":true,"messages":[{"role":"user","content":"one two three"}]}`, "ChatCompletionChunk"},
		{"/chat/chat/completions", `{"model":"echo","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"one two three"}]}`, "ChatCompletionChunk"},
		{"/chat/responses", `{"model":"echo","stream":true,"input":"one two three"}`, "ResponseStreamEvent"},
		{"/chat/v1/messages", `{"model":"echo","stream":true,"max_tokens":64,"messages":[{"role":"user","content":"one two three"}]}`, "MessageStreamEvent"},
	} {
		sp.checkStream(t, echo, tok, st.path, st.body, st.schema)
	}

	// A limited session: GET /sessions/current shows the limits, and the echo
	// backend is behind them like the proxy.
	var ltok session
	sp.check(t, echo, specCall{name: "limited session", req: request{Method: post, Path: "/sessions", Header: key,
		Body: `{"limits":{"models":["echo-*"],"paths":["/completions"],"max_output_tokens":64}}`}, status: 201, validRequest: true}).JSON(t, &ltok)
	for _, x := range []specCall{
		{name: "limited: current", req: request{Method: get, Path: "/sessions/current", Token: ltok.AccessToken}, status: 200, validRequest: true},
		{name: "limited: chat", req: request{Method: post, Path: "/chat/completions", Token: ltok.AccessToken, Body: `{"model":"echo-1","messages":[{"role":"user","content":"hi"}]}`}, status: 200, validRequest: true},
		{name: "limited: model", req: request{Method: post, Path: "/chat/completions", Token: ltok.AccessToken, Body: chatBody}, status: 403, validRequest: true},
		{name: "limited: path", req: request{Method: get, Path: "/chat/models", Token: ltok.AccessToken}, status: 403, validRequest: true},
		{name: "limited: output", req: request{Method: post, Path: "/chat/completions", Token: ltok.AccessToken, Body: `{"model":"echo-1","max_tokens":65,"messages":[{"role":"user","content":"hi"}]}`}, status: 400, validRequest: true},
	} {
		sp.check(t, echo, x)
	}
	// A counted session: one request a minute and a small budget, so the
	// second request of each is refused with 429 and the x-ratelimit-* headers.
	var rtok, btok session
	sp.check(t, echo, specCall{name: "rate-limited session", req: request{Method: post, Path: "/sessions", Header: key,
		Body: `{"limits":{"requests_per_minute":1}}`}, status: 201, validRequest: true}).JSON(t, &rtok)
	sp.check(t, echo, specCall{name: "budgeted session", req: request{Method: post, Path: "/sessions", Header: key,
		Body: `{"limits":{"total_tokens":3}}`}, status: 201, validRequest: true}).JSON(t, &btok)
	for _, x := range []specCall{
		{name: "counted: chat", req: request{Method: post, Path: "/chat/chat/completions", Token: rtok.AccessToken, Body: chatBody}, status: 200, validRequest: true},
		{name: "counted: rate", req: request{Method: post, Path: "/chat/chat/completions", Token: rtok.AccessToken, Body: chatBody}, status: 429, validRequest: true},
		{name: "counted: models, rate", req: request{Method: get, Path: "/chat/models", Token: rtok.AccessToken}, status: 429, validRequest: true},
		{name: "counted: budget spent", req: request{Method: post, Path: "/chat/v1/messages", Token: btok.AccessToken, Body: `{"model":"echo","max_tokens":64,"messages":[{"role":"user","content":"validate me"}]}`}, status: 200, validRequest: true},
		{name: "counted: budget", req: request{Method: post, Path: "/chat/responses", Token: btok.AccessToken, Body: `{"model":"echo","input":"validate me"}`}, status: 429, validRequest: true},
	} {
		resp := sp.check(t, echo, x)
		if x.status == 429 && (resp.Header.Get("Retry-After") == "" || resp.Header.Get("X-Ratelimit-Remaining-Requests")+resp.Header.Get("X-Ratelimit-Remaining-Tokens") != "0") {
			t.Errorf("%s: Retry-After %q, remaining %q/%q", x.name, resp.Header.Get("Retry-After"),
				resp.Header.Get("X-Ratelimit-Remaining-Requests"), resp.Header.Get("X-Ratelimit-Remaining-Tokens"))
		}
	}

	// A DPoP-bound session (dpop_test.go's client): token_type DPoP, dpop_jkt, the
	// DPoP challenge of a downgrade and of a refused proof.
	dc := newDPoPClient(t, echo)
	dp := func(method, path, tok string) map[string]string {
		h := map[string]string{"DPoP": dc.proof(t, method, path, tok)}
		if tok != "" {
			h["Authorization"] = "DPoP " + tok
		}
		return h
	}
	var dtok session
	bind := dp(post, "/sessions", "")
	bind["X-API-Key"] = apiKey
	sp.check(t, echo, specCall{name: "DPoP session", req: request{Method: post, Path: "/sessions", Header: bind}, status: 201, validRequest: true}).JSON(t, &dtok)
	if dtok.TokenType != "DPoP" {
		t.Errorf("DPoP session: token_type %q", dtok.TokenType)
	}
	other := newDPoPClient(t, echo)
	for _, x := range []specCall{
		{name: "DPoP session by dpop_jkt", req: request{Method: post, Path: "/sessions", Header: key, Body: `{"dpop_jkt":"` + dc.key.JKT() + `"}`}, status: 201, validRequest: true},
		{name: "DPoP session: bad proof", req: request{Method: post, Path: "/sessions", Header: map[string]string{"X-API-Key": apiKey, "DPoP": other.proof(t, get, "/sessions", "")}}, status: 400, validRequest: true},
		{name: "DPoP session: bad dpop_jkt", req: request{Method: post, Path: "/sessions", Header: key, Body: `{"dpop_jkt":"short"}`}, status: 400},
		{name: "DPoP current", req: request{Method: get, Path: "/sessions/current", Header: dp(get, "/sessions/current", dtok.AccessToken)}, status: 200, validRequest: true},
		{name: "DPoP current: as Bearer", req: request{Method: get, Path: "/sessions/current", Token: dtok.AccessToken}, status: 401, validRequest: true},
		{name: "DPoP chat", req: request{Method: post, Path: "/chat/chat/completions", Header: dp(post, "/chat/chat/completions", dtok.AccessToken), Body: chatBody}, status: 200, validRequest: true},
		{name: "DPoP chat: another key's proof", req: request{Method: post, Path: "/chat/chat/completions", Header: map[string]string{
			"Authorization": "DPoP " + dtok.AccessToken, "DPoP": other.proof(t, post, "/chat/chat/completions", dtok.AccessToken)}, Body: chatBody}, status: 401, validRequest: true},
		{name: "DPoP refresh", req: request{Method: post, Path: "/sessions/refresh", Header: dp(post, "/sessions/refresh", dtok.AccessToken)}, status: 200, validRequest: true},
	} {
		resp := sp.check(t, echo, x)
		if x.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `DPoP realm="jwtgate"`) {
			t.Errorf("%s: WWW-Authenticate %q, want a DPoP challenge", x.name, resp.Header.Get("WWW-Authenticate"))
		}
	}

	// A proxy in front of a test upstream, with an EdDSA signing key and the
	// default-sized burst shrunk to one, so a second session is refused.
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/completions":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"up-1","object":"chat.completion","created":1,"model":"up","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}`))
		case "/v1/models":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"object":"list","data":[{"id":"up","object":"model","created":1,"owned_by":"up"}]}`))
		case "/v1/slow":
			<-r.Context().Done() // answers nothing: the proxy gives up
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"data":[{"id":"up"}]}`))
		}
	}))
	t.Cleanup(upstream.Close)
	dir := t.TempDir()
	edKey := filepath.Join(dir, "ed.pem")
	if cli := runCLI(t, nil, "", "keys", "generate", "--alg", "EdDSA", "--out", edKey); cli.ExitCode != 0 {
		t.Fatalf("keys generate: %s", cli.Stderr)
	}
	cfgFile := filepath.Join(dir, "jwtgate.yaml")
	yaml := "jwt:\n  keys:\n    - kid: ed-1\n      alg: EdDSA\n      private_key_file: " + edKey + "\n"
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	proxy := startServer(t, []string{
		"JWTGATE_CHAT_UPSTREAM_URL=" + upstream.URL + "/v1",
		"JWTGATE_CHAT_RESPONSE_HEADER_TIMEOUT=300ms",
		"JWTGATE_RATE_LIMIT_SESSIONS_PER_MINUTE=1",
		"JWTGATE_RATE_LIMIT_BURST=1",
		"JWTGATE_METRICS_ADDR=" + freeLoopbackAddr(t),
	}, "--config", cfgFile)
	jwks := sp.check(t, proxy, specCall{name: "JWKS of an EdDSA key", req: request{Method: get, Path: "/.well-known/jwks.json"}, status: 200, validRequest: true})
	if !bytes.Contains(jwks.Body, []byte(`"kid":"ed-1"`)) {
		t.Errorf("JWKS = %s, want the ed-1 key", jwks.Body)
	}
	var ptok session
	sp.check(t, proxy, specCall{name: "proxy session", req: request{Method: post, Path: "/sessions", Header: key}, status: 201, validRequest: true}).JSON(t, &ptok)
	for _, x := range []specCall{
		{name: "rate limited", req: request{Method: post, Path: "/sessions", Header: key}, status: 429, validRequest: true},
		{name: "metrics on their own listener", req: request{Method: get, Path: "/metrics"}, status: 404, validRequest: true},
		{name: "proxied completion", req: request{Method: post, Path: "/chat/completions", Token: ptok.AccessToken, Body: chatBody}, status: 200, validRequest: true},
		{name: "proxied GET", req: request{Method: get, Path: "/chat/models", Token: ptok.AccessToken}, status: 200, validRequest: true},
		{name: "proxied PUT", req: request{Method: http.MethodPut, Path: "/chat/files", Token: ptok.AccessToken, Body: `{}`}, status: 200, validRequest: true},
		{name: "proxied: encoded dots", req: request{Method: get, Path: "/chat/%2e%2e", Token: ptok.AccessToken}, status: 400},
		{name: "proxied: no token", req: request{Method: get, Path: "/chat/models"}, status: 401},
		{name: "proxied: upstream silent", req: request{Method: get, Path: "/chat/slow", Token: ptok.AccessToken}, status: 504, validRequest: true},
	} {
		sp.check(t, proxy, x)
	}
	upstream.Close()
	sp.check(t, proxy, specCall{name: "upstream gone", req: request{Method: get, Path: "/chat/models", Token: ptok.AccessToken}, status: 502, validRequest: true})

	// Every path of the spec was exercised, and every main error status.
	for path := range sp.doc.Paths.Map() {
		if !sp.paths[path] {
			t.Errorf("no request exercised %s", path)
		}
	}
	for _, code := range []int{200, 201, 400, 401, 403, 404, 405, 413, 415, 429, 502, 504} {
		if !sp.codes[code] {
			t.Errorf("no response had status %d", code)
		}
	}
	assertNoLeak(t, "logs", echo.Logs()+proxy.Logs(), secret, apiKey, tok, ptok.AccessToken)
}

// checkStream validates a streamed echo answer at path: the response as a
// whole against the spec's text/event-stream entry, and each event's data
// against the schema that entry names (and an event's name, where the stream
// names them, against its data's type).
func (sp *apiSpec) checkStream(t *testing.T, s *server, tok, path, body, schema string) {
	t.Helper()
	resp := sp.check(t, s, specCall{name: "stream " + path, req: request{Method: http.MethodPost, Path: path, Token: tok, Body: body}, status: 200, validRequest: true})
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("%s stream Content-Type = %q", path, ct)
	}
	mt := sp.doc.Paths.Value(path).Post.Responses.Status(200).Value.Content.Get("text/event-stream")
	ref, ok := mt.Extensions["x-event-schema"].(map[string]any)["$ref"].(string)
	if want := "#/components/schemas/" + schema; !ok || ref != want {
		t.Fatalf("%s text/event-stream x-event-schema = %v, want a $ref to %s", path, mt.Extensions["x-event-schema"], want)
	}
	eventSchema := sp.doc.Components.Schemas[schema].Value
	var events int
	var name string
	sc := bufio.NewScanner(bytes.NewReader(resp.Body))
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			name = n
			continue
		}
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			t.Fatalf("%s: event %q is not JSON: %v", path, data, err)
		}
		if err := eventSchema.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("%s: event %s does not match %s: %v", path, data, schema, err)
		}
		if typ, _ := v.(map[string]any)["type"].(string); name != "" && typ != name {
			t.Errorf("%s: event named %q has type %q", path, name, typ)
		}
		name = ""
		events++
	}
	if events < 4 { // three words and the finish
		t.Errorf("%s: %d events, want at least 4", path, events)
	}
}

// checkNotVacuous makes sure validation has teeth: responses that break the
// spec in a body, a header or a status are refused.
func (sp *apiSpec) checkNotVacuous(t *testing.T) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://127.0.0.1/sessions", nil)
	if err != nil {
		t.Fatal(err)
	}
	route, params, err := sp.router.FindRoute(req)
	if err != nil {
		t.Fatalf("routing POST /sessions: %v", err)
	}
	okHeader := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"abc"}, "Cache-Control": {"no-store"}}
	withHeader := func(k, v string) http.Header {
		h := okHeader.Clone()
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	goodToken := `{"access_token":"a.b.c","token_type":"Bearer","expires_in":900,"expires_at":"2030-01-01T00:00:00Z"}`
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		valid  bool
	}{
		{"a good token response", 201, okHeader, goodToken, true},
		{"token without access_token", 201, okHeader, `{"token_type":"Bearer","expires_in":900,"expires_at":"2030-01-01T00:00:00Z"}`, false},
		{"token with another token_type", 201, okHeader, strings.Replace(goodToken, "Bearer", "bearer", 1), false},
		{"token with an extra member", 201, okHeader, strings.Replace(goodToken, "{", `{"api_key":"k",`, 1), false},
		{"token without Cache-Control", 201, withHeader("Cache-Control", ""), goodToken, false},
		{"token without X-Request-ID", 201, withHeader("X-Request-Id", ""), goodToken, false},
		{"429 without Retry-After", 429, okHeader, `{"error":"rate_limited","error_description":"slow down"}`, false},
		{"429 with another error code", 429, withHeader("Retry-After", "1"), `{"error":"invalid_request","error_description":"x"}`, false},
		{"a good 429", 429, withHeader("Retry-After", "1"), `{"error":"rate_limited","error_description":"slow down"}`, true},
		{"an undocumented status", 418, okHeader, `{}`, false},
	}
	for _, tt := range tests {
		opts := &openapi3filter.Options{IncludeResponseStatus: true}
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
			Status:                 tt.status, Header: tt.header, Options: opts,
		}
		in.SetBodyBytes([]byte(tt.body))
		err := openapi3filter.ValidateResponse(context.WithoutCancel(t.Context()), in)
		if (err == nil) != tt.valid {
			t.Errorf("validation of %s: err = %v, want valid %v", tt.name, err, tt.valid)
		}
	}
	// The text/event-stream and error schemas are referenced where the test expects.
	if _, ok := sp.doc.Components.Schemas["ChatCompletionChunk"]; !ok {
		t.Error("the spec has no ChatCompletionChunk schema")
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range sp.doc.Components.Responses {
			if !yield(n) {
				return
			}
		}
	})
	for _, want := range []string{"NotFound", "MethodNotAllowed", "RateLimited", "Unauthorized"} {
		if !slices.Contains(names, want) {
			t.Errorf("components.responses lacks %s (has %s)", want, strconv.Quote(strings.Join(names, ",")))
		}
	}
}

// freeLoopbackAddr returns a loopback address with a port that was free a moment ago,
// for settings that cannot take port 0 (metrics.addr must differ from
// server.addr, which the tests set to 127.0.0.1:0).
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
