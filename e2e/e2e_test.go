package e2e

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const chatPrompt = "hello brave new world of stateless tokens"

// TestFlowConfiguredByEnvironment walks the README flow against a server
// configured through JWTGATE_* variables.
func TestFlowConfiguredByEnvironment(t *testing.T) {
	secret, apiKey, otherKey := newSecret(t), newAPIKey(t), newAPIKey(t)
	s := startServer(t, []string{
		"JWTGATE_JWT_SECRET=" + secret,
		"JWTGATE_CHAT_ECHO_DELAY=1ms",
		"JWTGATE_LOG_LEVEL=debug",
		"JWTGATE_API_KEYS_ALLOWED=" + apiKey + "," + otherKey,
	})
	tokens := walkFlow(t, s, apiKey, "jwtgate")

	// The allowlist is in force: an unlisted key gets no session.
	stranger := newAPIKey(t)
	resp := s.do(t, request{Method: http.MethodPost, Path: "/sessions", Header: map[string]string{"X-API-Key": stranger}})
	if resp.Status != http.StatusUnauthorized {
		t.Errorf("POST /sessions with an unlisted key = %d, want 401; body %s", resp.Status, resp.Body)
	}
	var e errorBody
	resp.JSON(t, &e)
	if e.Error != "invalid_api_key" {
		t.Errorf("error = %q, want invalid_api_key", e.Error)
	}
	assertNoLeak(t, "response", string(resp.Body), stranger)

	if code := s.Stop(t); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	assertNoLeak(t, "logs", s.Logs(), append(tokens, secret, apiKey, otherKey, stranger)...)
}

// TestFlowConfiguredByFile walks the README flow against a server configured by a
// YAML file given with --config, with its secret in a separate file.
func TestFlowConfiguredByFile(t *testing.T) {
	dir := t.TempDir()
	secret, apiKey := newSecret(t), newAPIKey(t)
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "jwtgate.yaml")
	yaml := `jwt:
  secret_file: ` + secretFile + `
  issuer: e2e-issuer
  audience: e2e-audience
  ttl: 5m
chat:
  echo_delay: 1ms
log:
  level: debug
`
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, nil, "--config", cfgFile)
	tokens := walkFlow(t, s, apiKey, "e2e-issuer")

	var claims struct {
		Iss string `json:"iss"`
		Aud any    `json:"aud"`
		Iat int64  `json:"iat"`
		Exp int64  `json:"exp"`
	}
	if err := json.Unmarshal([]byte(tokenPayload(t, tokens[0])), &claims); err != nil {
		t.Fatal(err)
	}
	if claims.Exp-claims.Iat != int64((5 * time.Minute).Seconds()) {
		t.Errorf("token lifetime = %ds, want jwt.ttl 5m from the file", claims.Exp-claims.Iat)
	}
	if claims.Aud != "e2e-audience" && !sliceHas(claims.Aud, "e2e-audience") {
		t.Errorf("aud = %v, want e2e-audience", claims.Aud)
	}

	// The file's issuer and audience are enforced: a token from the same secret
	// but the default issuer is refused.
	cli := runCLI(t, []string{"JWTGATE_JWT_SECRET=" + secret}, "", "token", "issue", "--api-key", apiKey)
	if cli.ExitCode != 0 {
		t.Fatalf("token issue: exit %d: %s", cli.ExitCode, cli.Stderr)
	}
	foreign := strings.TrimSpace(cli.Stdout)
	desc := checkInvalidToken(t, s.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Token: foreign}))
	if desc != "token has an invalid issuer" {
		t.Errorf("error_description = %q, want the issuer refusal", desc)
	}

	if code := s.Stop(t); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	assertNoLeak(t, "logs", s.Logs(), append(tokens, secret, apiKey, foreign)...)
}

func sliceHas(v any, want string) bool {
	list, ok := v.([]any)
	if !ok {
		return false
	}
	for _, e := range list {
		if e == want {
			return true
		}
	}
	return false
}

// walkFlow runs the README walkthrough against s and returns every token it saw.
func walkFlow(t *testing.T, s *server, apiKey, issuer string) []string {
	t.Helper()
	var tokens []string

	// No credentials: a bare challenge.
	resp := s.do(t, request{Method: http.MethodGet, Path: "/sessions/current"})
	if resp.Status != http.StatusUnauthorized {
		t.Fatalf("GET /sessions/current without a token = %d, want 401", resp.Status)
	}
	if wa := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, `Bearer realm="jwtgate"`) || strings.Contains(wa, "error=") {
		t.Errorf("WWW-Authenticate = %q, want a bare Bearer challenge", wa)
	}

	// POST /sessions with the key in X-API-Key.
	sess := s.createSession(t, apiKey)
	tokens = append(tokens, sess.AccessToken)
	payload := tokenPayload(t, sess.AccessToken)
	assertNoLeak(t, "token payload", payload, apiKey)
	if !strings.Contains(payload, `"iss":"`+issuer+`"`) {
		t.Errorf("payload %s, want iss %q", payload, issuer)
	}

	// GET /sessions/current shows the session, the key only as its fingerprint.
	resp = s.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Token: sess.AccessToken})
	if resp.Status != http.StatusOK {
		t.Fatalf("GET /sessions/current = %d; body %s", resp.Status, resp.Body)
	}
	assertNoLeak(t, "GET /sessions/current", string(resp.Body), apiKey)
	var cur current
	resp.JSON(t, &cur)
	// The fingerprint is keyed by the deployment's secret: the one in the token,
	// the same for every session of the key, and not the key's plain digest.
	checkFingerprint(t, cur.APIKeyFingerprint, apiKey)
	if akf := claimsOf(t, sess.AccessToken)["akf"]; cur.APIKeyFingerprint != akf {
		t.Errorf("api_key_fingerprint = %q, want the token's akf %q", cur.APIKeyFingerprint, akf)
	}
	if cur.SessionID == "" || cur.Subject == "" {
		t.Errorf("session_id %q, subject %q: want both set", cur.SessionID, cur.Subject)
	}

	// POST /sessions with a JSON body: key, subject and ttl.
	body := `{"api_key":"` + apiKey + `","subject":"alice","ttl":60}`
	bodySess := checkSession(t, s.do(t, request{Method: http.MethodPost, Path: "/sessions", Body: body}), http.StatusCreated)
	tokens = append(tokens, bodySess.AccessToken)
	if bodySess.ExpiresIn != 60 {
		t.Errorf("expires_in = %d, want the requested 60", bodySess.ExpiresIn)
	}
	if got := s.currentSession(t, bodySess.AccessToken); got.Subject != "alice" || got.SessionID == cur.SessionID || got.APIKeyFingerprint != cur.APIKeyFingerprint {
		t.Errorf("body session: subject %q, session %q, fingerprint %q; want alice, a new session and the first session's fingerprint %q",
			got.Subject, got.SessionID, got.APIKeyFingerprint, cur.APIKeyFingerprint)
	}

	// POST /sessions/refresh: a new token for the same session.
	refreshed := checkSession(t, s.do(t, request{Method: http.MethodPost, Path: "/sessions/refresh", Token: sess.AccessToken}), http.StatusOK)
	tokens = append(tokens, refreshed.AccessToken)
	if refreshed.AccessToken == sess.AccessToken {
		t.Error("refresh returned the same token")
	}
	if got := s.currentSession(t, refreshed.AccessToken); got.SessionID != cur.SessionID || got.Subject != cur.Subject {
		t.Errorf("refreshed session = %+v, want session %q and subject %q", got, cur.SessionID, cur.Subject)
	}

	// POST /chat/completions, whole answer.
	chatBody := `{"model":"echo","messages":[{"role":"user","content":"` + chatPrompt + `"}]}`
	resp = s.do(t, request{Method: http.MethodPost, Path: "/chat/completions", Token: refreshed.AccessToken, Body: chatBody})
	if resp.Status != http.StatusOK {
		t.Fatalf("POST /chat/completions = %d; body %s", resp.Status, resp.Body)
	}
	var completion struct {
		Object  string `json:"object"`
		Choices []struct {
			Message struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	resp.JSON(t, &completion)
	if completion.Object != "chat.completion" || len(completion.Choices) != 1 {
		t.Fatalf("completion = %s, want one chat.completion choice", resp.Body)
	}
	if msg := completion.Choices[0].Message; msg.Role != "assistant" || !strings.Contains(msg.Content, chatPrompt) {
		t.Errorf("message = %+v, want the assistant echoing %q", msg, chatPrompt)
	}
	assertNoLeak(t, "chat response", string(resp.Body), apiKey)

	// POST /chat/completions with "stream": true: several events, then [DONE].
	streamBody := `{"model":"echo","stream":true,"messages":[{"role":"user","content":"` + chatPrompt + `"}]}`
	chunks := streamChat(t, s, refreshed.AccessToken, streamBody, nil)
	if len(chunks) < 2 {
		t.Errorf("stream had %d chunks, want several", len(chunks))
	}
	if got := strings.Join(chunks, ""); !strings.Contains(strings.Join(strings.Fields(got), " "), chatPrompt) {
		t.Errorf("streamed content %q does not echo %q", got, chatPrompt)
	}

	// A token altered after signing is refused.
	tampered := tamper(t, refreshed.AccessToken)
	for _, r := range []request{
		{Method: http.MethodGet, Path: "/sessions/current", Token: tampered},
		{Method: http.MethodPost, Path: "/chat/completions", Token: tampered, Body: chatBody},
		{Method: http.MethodPost, Path: "/sessions/refresh", Token: tampered},
	} {
		desc := checkInvalidToken(t, s.do(t, r))
		if desc != "token signature is invalid" {
			t.Errorf("%s %s: error_description = %q, want the signature refusal", r.Method, r.Path, desc)
		}
	}
	return tokens
}

// streamChat posts body to /chat/completions and reads the server-sent events. It
// returns the content of each delta; every event must be a chat.completion.chunk
// and the last one "[DONE]". afterFirst, when set, runs after the first chunk.
func streamChat(t *testing.T, s *server, tok, body string, afterFirst func()) []string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := s.Client.Do(req)
	if err != nil {
		t.Fatalf("POST /chat/completions (stream): %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /chat/completions (stream) = %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	var (
		chunks []string
		done   bool
	)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data:")
		if !ok {
			continue
		}
		data = strings.TrimSpace(data)
		if done {
			t.Errorf("event after [DONE]: %q", data)
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var chunk struct {
			Object  string `json:"object"`
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			t.Fatalf("event is not JSON (%v): %q", err, data)
		}
		if chunk.Object != "chat.completion.chunk" || len(chunk.Choices) != 1 {
			t.Fatalf("event = %s, want one chat.completion.chunk choice", data)
		}
		chunks = append(chunks, chunk.Choices[0].Delta.Content)
		if len(chunks) == 1 && afterFirst != nil {
			afterFirst()
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	if !done {
		t.Errorf("stream ended without [DONE] after %d chunks", len(chunks))
	}
	return chunks
}

// TestExpiredTokenRefused issues a one-second token from a server with no leeway
// and polls until it is refused as expired; no assertion depends on timing.
func TestExpiredTokenRefused(t *testing.T) {
	apiKey := newAPIKey(t)
	s := startServer(t, []string{
		"JWTGATE_JWT_SECRET=" + newSecret(t),
		"JWTGATE_JWT_TTL=1s",
		"JWTGATE_JWT_LEEWAY=0s",
	})
	sess := s.createSession(t, apiKey)
	if sess.ExpiresIn != 1 {
		t.Errorf("expires_in = %d, want 1", sess.ExpiresIn)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp := s.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Token: sess.AccessToken})
		if resp.Status == http.StatusUnauthorized {
			if desc := checkInvalidToken(t, resp); desc != "token is expired" {
				t.Fatalf("error_description = %q, want token is expired", desc)
			}
			break
		}
		if resp.Status != http.StatusOK {
			t.Fatalf("GET /sessions/current = %d, want 200 until expiry then 401", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatal("a one-second token was still accepted after 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// An expired token cannot be refreshed either.
	resp := s.do(t, request{Method: http.MethodPost, Path: "/sessions/refresh", Token: sess.AccessToken})
	if desc := checkInvalidToken(t, resp); desc != "token is expired" {
		t.Errorf("refresh: error_description = %q, want token is expired", desc)
	}
}

// TestGracefulShutdown sends SIGTERM in the middle of a streamed completion: the
// stream finishes, new connections are refused, and the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	apiKey := newAPIKey(t)
	s := startServer(t, []string{
		"JWTGATE_JWT_SECRET=" + newSecret(t),
		"JWTGATE_CHAT_ECHO_DELAY=30ms",
	})
	tok := s.createSession(t, apiKey).AccessToken
	words := strings.Fields(strings.Repeat(chatPrompt+" ", 3))
	body := `{"model":"echo","stream":true,"messages":[{"role":"user","content":"` + strings.Join(words, " ") + `"}]}`

	chunks := streamChat(t, s, tok, body, func() { s.Signal(t, syscall.SIGTERM) })
	if got := strings.Fields(strings.Join(chunks, "")); len(got) < len(words) {
		t.Errorf("stream cut short by shutdown: %d words, want %d", len(got), len(words))
	}
	if code := s.Wait(t); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	if !connectionRefused(s.Addr) {
		t.Error("the port still accepts connections after exit")
	}
	if _, err := http.Get(s.URL + "/readyz"); err == nil {
		t.Error("/readyz still answers after shutdown")
	}
	logs := s.Logs()
	for _, want := range []string{"shutting down", "stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q", want)
		}
	}
}

// TestStatelessReplicas checks that a token from one process is accepted by another
// with the same secret, and refused by one with a different secret; and that the
// CLI, given the same secret, issues and verifies tokens the servers agree with.
func TestStatelessReplicas(t *testing.T) {
	secret, apiKey := newSecret(t), newAPIKey(t)
	env := []string{"JWTGATE_JWT_SECRET=" + secret, "JWTGATE_CHAT_ECHO_DELAY=1ms"}
	a := startServer(t, env)
	b := startServer(t, env)
	otherSecret := newSecret(t)
	c := startServer(t, []string{"JWTGATE_JWT_SECRET=" + otherSecret})

	tok := a.createSession(t, apiKey).AccessToken
	fromA := a.currentSession(t, tok)
	if got := b.currentSession(t, tok); got != fromA {
		t.Errorf("B sees %+v, A sees %+v", got, fromA)
	}
	chatBody := `{"model":"echo","messages":[{"role":"user","content":"` + chatPrompt + `"}]}`
	if resp := b.do(t, request{Method: http.MethodPost, Path: "/chat/completions", Token: tok, Body: chatBody}); resp.Status != http.StatusOK {
		t.Errorf("chat on B with A's token = %d; body %s", resp.Status, resp.Body)
	}
	refreshed := checkSession(t, b.do(t, request{Method: http.MethodPost, Path: "/sessions/refresh", Token: tok}), http.StatusOK)
	if got := a.currentSession(t, refreshed.AccessToken); got.SessionID != fromA.SessionID {
		t.Errorf("A sees B's refresh as session %q, want %q", got.SessionID, fromA.SessionID)
	}
	checkInvalidToken(t, c.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Token: tok}))

	// The CLI with the same secret is one more replica.
	cli := runCLI(t, []string{"JWTGATE_JWT_SECRET=" + secret}, apiKey+"\n", "token", "issue", "--api-key", "-", "--subject", "cli")
	if cli.ExitCode != 0 {
		t.Fatalf("token issue: exit %d: %s", cli.ExitCode, cli.Stderr)
	}
	cliTok := strings.TrimSpace(cli.Stdout)
	fp := secretFingerprint(t, secret, apiKey)
	if fromA.APIKeyFingerprint != fp {
		t.Errorf("A's api_key_fingerprint = %q, want %q", fromA.APIKeyFingerprint, fp)
	}
	if got := a.currentSession(t, cliTok); got.Subject != "cli" || got.APIKeyFingerprint != fp {
		t.Errorf("A sees the CLI token as %+v", got)
	}
	verified := runCLI(t, []string{"JWTGATE_JWT_SECRET=" + secret}, tok, "token", "verify")
	if verified.ExitCode != 0 {
		t.Fatalf("token verify of A's token: exit %d: %s", verified.ExitCode, verified.Stderr)
	}
	var claims struct {
		Sid string `json:"sid"`
		AKF string `json:"api_key_fingerprint"`
	}
	if err := json.Unmarshal([]byte(verified.Stdout), &claims); err != nil {
		t.Fatalf("token verify output is not JSON: %v", err)
	}
	if claims.Sid != fromA.SessionID || claims.AKF != fp {
		t.Errorf("token verify = %s, want session %q", verified.Stdout, fromA.SessionID)
	}
	refused := runCLI(t, []string{"JWTGATE_JWT_SECRET=" + otherSecret}, "", "token", "verify", tok)
	if refused.ExitCode == 0 || !strings.Contains(refused.Stderr, "token key is unknown") {
		t.Errorf("token verify with another secret: exit %d, stderr %q; want a refusal naming the reason", refused.ExitCode, refused.Stderr)
	}

	all := []string{secret, otherSecret, apiKey, tok, refreshed.AccessToken, cliTok}
	for _, out := range []string{cli.Stderr, verified.Stdout, verified.Stderr, refused.Stdout, refused.Stderr} {
		assertNoLeak(t, "CLI output", out, all...)
	}
	for name, srv := range map[string]*server{"A": a, "B": b, "C": c} {
		if code := srv.Stop(t); code != 0 {
			t.Errorf("%s: exit code %d, want 0", name, code)
		}
		assertNoLeak(t, name+" logs", srv.Logs(), all...)
	}
}

// TestDefaultRandomKey starts with no secret at all: the server works on its own,
// warns that tokens are bound to the process, and another such process refuses them.
func TestDefaultRandomKey(t *testing.T) {
	apiKey := newAPIKey(t)
	s := startServer(t, nil)
	other := startServer(t, nil)

	var warned bool
	for _, line := range strings.Split(s.Logs(), "\n") {
		var rec struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Level == "WARN" &&
			strings.Contains(rec.Msg, "random") && strings.Contains(rec.Msg, "restart") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no warning about the random in-memory key:\n%s", s.Logs())
	}

	tok := s.createSession(t, apiKey).AccessToken
	s.currentSession(t, tok)
	checkInvalidToken(t, other.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Token: tok}))

	if code := s.Stop(t); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	assertNoLeak(t, "logs", s.Logs()+other.Logs(), apiKey, tok)
}

// TestMalformedRequestsNever5xx sends a handful of broken requests: each gets a
// 4xx, and the server stays up.
func TestMalformedRequestsNever5xx(t *testing.T) {
	apiKey := newAPIKey(t)
	s := startServer(t, []string{
		"JWTGATE_JWT_SECRET=" + newSecret(t),
		"JWTGATE_CHAT_ECHO_DELAY=1ms",
		"JWTGATE_RATE_LIMIT_SESSIONS_PER_MINUTE=0", // a dozen POST /sessions from one address
	})
	tok := s.createSession(t, apiKey).AccessToken
	noneToken := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + strings.Split(tok, ".")[1] + "."
	key := map[string]string{"X-API-Key": apiKey}

	tests := []struct {
		name string
		req  request
		want int // 0: any 4xx
	}{
		{name: "sessions: bad JSON", req: request{Method: http.MethodPost, Path: "/sessions", Body: `{"api_key":`}, want: http.StatusBadRequest},
		{name: "sessions: wrong type", req: request{Method: http.MethodPost, Path: "/sessions", Body: `{"api_key":5}`}, want: http.StatusBadRequest},
		{name: "sessions: unknown field", req: request{Method: http.MethodPost, Path: "/sessions", Body: `{"api_key":"k","admin":true}`}, want: http.StatusBadRequest},
		{name: "sessions: negative ttl", req: request{Method: http.MethodPost, Path: "/sessions", Header: key, Body: `{"ttl":-5}`}, want: http.StatusBadRequest},
		{name: "sessions: absurd ttl", req: request{Method: http.MethodPost, Path: "/sessions", Header: key, Body: `{"ttl":1e300}`}, want: http.StatusBadRequest},
		{name: "sessions: not JSON", req: request{Method: http.MethodPost, Path: "/sessions", Header: map[string]string{"Content-Type": "text/plain"}, Body: "api_key=x"}, want: http.StatusUnsupportedMediaType},
		{name: "sessions: body too large", req: request{Method: http.MethodPost, Path: "/sessions", Body: `{"api_key":"` + strings.Repeat("k", 70<<10) + `"}`}, want: http.StatusRequestEntityTooLarge},
		{name: "sessions: no key", req: request{Method: http.MethodPost, Path: "/sessions"}},
		{name: "sessions: key with a space", req: request{Method: http.MethodPost, Path: "/sessions", Header: map[string]string{"X-API-Key": "sk bad key"}}},
		{name: "sessions: two different keys", req: request{Method: http.MethodPost, Path: "/sessions", Header: key, Body: `{"api_key":"sk-other"}`}, want: http.StatusBadRequest},
		{name: "current: empty bearer", req: request{Method: http.MethodGet, Path: "/sessions/current", Header: map[string]string{"Authorization": "Bearer "}}},
		{name: "current: basic auth", req: request{Method: http.MethodGet, Path: "/sessions/current", Header: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}}, want: http.StatusUnauthorized},
		{name: "current: garbage token", req: request{Method: http.MethodGet, Path: "/sessions/current", Token: "a.b.c"}, want: http.StatusUnauthorized},
		{name: "current: alg none", req: request{Method: http.MethodGet, Path: "/sessions/current", Token: noneToken}, want: http.StatusUnauthorized},
		{name: "current: oversized token", req: request{Method: http.MethodGet, Path: "/sessions/current", Token: strings.Repeat("x", 10<<10)}, want: http.StatusUnauthorized},
		{name: "refresh: no token", req: request{Method: http.MethodPost, Path: "/sessions/refresh"}, want: http.StatusUnauthorized},
		{name: "chat: bad JSON", req: request{Method: http.MethodPost, Path: "/chat/completions", Token: tok, Body: `{"messages":`}, want: http.StatusBadRequest},
		{name: "chat: messages of the wrong type", req: request{Method: http.MethodPost, Path: "/chat/completions", Token: tok, Body: `{"messages":"hi"}`}, want: http.StatusBadRequest},
		{name: "chat: no token", req: request{Method: http.MethodPost, Path: "/chat/completions", Body: `{}`}, want: http.StatusUnauthorized},
		{name: "chat: unknown echo route", req: request{Method: http.MethodGet, Path: "/chat/nope", Token: tok}},
		{name: "huge header", req: request{Method: http.MethodGet, Path: "/healthz", Header: map[string]string{"X-Big": strings.Repeat("b", 64<<10)}}, want: http.StatusRequestHeaderFieldsTooLarge},
		{name: "unknown route", req: request{Method: http.MethodGet, Path: "/admin"}, want: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := s.do(t, tt.req)
			if tt.want != 0 && resp.Status != tt.want {
				t.Errorf("status = %d, want %d; body %s", resp.Status, tt.want, resp.Body)
			}
			if resp.Status < 400 || resp.Status >= 500 {
				t.Errorf("status = %d, want a 4xx; body %s", resp.Status, resp.Body)
			}
			assertNoLeak(t, "response", string(resp.Body), apiKey, tok)
		})
	}
	// Still up and well.
	s.currentSession(t, tok)
	if code := s.Stop(t); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	assertNoLeak(t, "logs", s.Logs(), apiKey, tok)
}

// TestKeyRotationOnSIGHUP rewrites the configuration file to add a new signing key,
// keeping the old one for verification, and sends SIGHUP: tokens already issued
// stay valid, new ones carry the new kid, and the process keeps running.
func TestKeyRotationOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	oldSecret, nextSecret, apiKey := newSecret(t), newSecret(t), newAPIKey(t)
	cfgFile := filepath.Join(dir, "jwtgate.yaml")
	write := func(yaml string) {
		t.Helper()
		if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("jwt:\n  key_id: first\n  secret: " + oldSecret + "\n")
	s := startServer(t, nil, "--config", cfgFile)
	oldTok := s.createSession(t, apiKey).AccessToken

	write(`jwt:
  signing_key: next
  keys:
    - kid: next
      alg: HS256
      secret: ` + nextSecret + `
    - kid: first
      alg: HS256
      secret: ` + oldSecret + `
`)
	s.Signal(t, syscall.SIGHUP)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.Logs(), "configuration reloaded") {
		if strings.Contains(s.Logs(), "not reloaded") {
			t.Fatalf("reload failed:\n%s", s.Logs())
		}
		if time.Now().After(deadline) {
			t.Fatal("no reload logged within 30s of SIGHUP")
		}
		time.Sleep(20 * time.Millisecond)
	}

	s.currentSession(t, oldTok)
	newTok := s.createSession(t, apiKey).AccessToken
	var hdr struct {
		Kid string `json:"kid"`
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(newTok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &hdr); err != nil {
		t.Fatal(err)
	}
	if hdr.Kid != "next" {
		t.Errorf("kid after rotation = %q, want next", hdr.Kid)
	}
	s.currentSession(t, newTok)

	if code := s.Stop(t); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	assertNoLeak(t, "logs", s.Logs(), oldSecret, nextSecret, apiKey, oldTok, newTok)
}
