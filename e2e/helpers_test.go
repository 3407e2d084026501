package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds for waiting on the binary. They only stop a broken run from hanging; no
// assertion depends on how fast anything happens.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 60 * time.Second
	pollInterval = 20 * time.Millisecond
)

// server is one running jwtgate process.
type server struct {
	// URL is the base URL, "http://127.0.0.1:port".
	URL string
	// Addr is the address the server logged as listening.
	Addr string
	// Client talks to the server (for HTTPS, it trusts the test's certificates).
	Client *http.Client

	cmd      *exec.Cmd
	logs     *syncBuffer
	done     chan struct{} // closed when the process has exited
	exitCode int           // valid once done is closed
	stopOnce sync.Once
}

// startServer runs `jwtgate serve --addr 127.0.0.1:0 args...` with env added to a
// copy of the test's environment stripped of JWTGATE_* variables. It waits for the
// "listening" log line, then for /readyz to answer 200. The process is stopped with
// SIGTERM when the test ends, and its logs are checked for panics and data races.
func startServer(t *testing.T, env []string, args ...string) *server {
	t.Helper()
	return start(t, "http", &http.Client{}, env, args)
}

// startTLSServer is startServer for a server configured for HTTPS; its Client
// trusts the certificates in roots.
func startTLSServer(t *testing.T, roots *x509.CertPool, env []string, args ...string) *server {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}}
	return start(t, "https", client, env, args)
}

func start(t *testing.T, scheme string, client *http.Client, env, args []string) *server {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(cleanEnviron(), env...)
	cmd.Dir = t.TempDir()
	s := &server{Client: client, cmd: cmd, logs: new(syncBuffer), done: make(chan struct{})}
	cmd.Stdout = s.logs
	cmd.Stderr = s.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting jwtgate: %v", err)
	}
	go func() {
		err := cmd.Wait()
		s.exitCode = cmd.ProcessState.ExitCode()
		if err != nil && s.exitCode == 0 {
			s.exitCode = -1
		}
		close(s.done)
	}()
	t.Cleanup(func() {
		s.Stop(t)
		logs := s.Logs()
		for _, bad := range []string{"DATA RACE", "panic:"} {
			if strings.Contains(logs, bad) {
				t.Errorf("server logs contain %q:\n%s", bad, logs)
			}
		}
		if t.Failed() {
			t.Logf("server logs:\n%s", logs)
		}
	})

	s.Addr = s.waitListening(t)
	s.URL = scheme + "://" + s.Addr
	s.waitReady(t)
	return s
}

// cleanEnviron returns the test's environment without JWTGATE_* variables, so only
// what a test sets configures the binary.
func cleanEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JWTGATE_") {
			env = append(env, kv)
		}
	}
	return env
}

// waitListening returns the address of the server's "listening" log line.
func (s *server) waitListening(t *testing.T) string {
	t.Helper()
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if addr := listeningAddr(s.Logs()); addr != "" {
			return addr
		}
		select {
		case <-s.done:
			t.Fatalf("jwtgate exited with %d before listening:\n%s", s.exitCode, s.Logs())
		case <-deadline.C:
			t.Fatalf("jwtgate did not log a listening address within %s:\n%s", startTimeout, s.Logs())
		case <-tick.C:
		}
	}
}

// listeningAddr finds the addr of the "listening" line in JSON or text logs.
func listeningAddr(logs string) string {
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		line := sc.Text()
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil {
			if rec.Msg == "listening" {
				return rec.Addr
			}
			continue
		}
		if strings.Contains(line, " msg=listening ") || strings.HasSuffix(line, " msg=listening") {
			for _, f := range strings.Fields(line) {
				if a, ok := strings.CutPrefix(f, "addr="); ok {
					return a
				}
			}
		}
	}
	return ""
}

// waitReady polls /readyz until it answers 200.
func (s *server) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := s.Client.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz did not answer 200 within %s (last: %v)", startTimeout, describe(resp, err))
		}
		select {
		case <-s.done:
			t.Fatalf("jwtgate exited with %d before it was ready", s.exitCode)
		case <-time.After(pollInterval):
		}
	}
}

func describe(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return resp.Status
}

// Signal sends sig to the process.
func (s *server) Signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling jwtgate: %v", err)
	}
}

// Wait waits for the process to exit and returns its exit code; it kills the
// process and fails the test if that takes longer than stopTimeout.
func (s *server) Wait(t *testing.T) int {
	t.Helper()
	select {
	case <-s.done:
		return s.exitCode
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Errorf("jwtgate did not exit within %s of SIGTERM; killed", stopTimeout)
		return s.exitCode
	}
}

// Stop sends SIGTERM (once) and returns the exit code.
func (s *server) Stop(t *testing.T) int {
	t.Helper()
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
		}
	})
	return s.Wait(t)
}

// Logs returns everything the process wrote so far.
func (s *server) Logs() string { return s.logs.String() }

// response is a fully read HTTP response.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test when it is not JSON.
func (r *response) JSON(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("body is not JSON (%v): %q", err, r.Body)
	}
}

// request is one HTTP request to a server.
type request struct {
	Method string
	Path   string
	Token  string // sent as "Authorization: Bearer <Token>" when set
	Header map[string]string
	Body   string
}

// do sends r to s and reads the whole response.
func (s *server) do(t *testing.T, r request) *response {
	t.Helper()
	var body io.Reader
	if r.Body != "" {
		body = strings.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(t.Context(), r.Method, s.URL+r.Path, body)
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
	resp, err := s.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", r.Method, r.Path, err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// session is the body of a 201 from POST /sessions or POST /sessions/refresh.
type session struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	ExpiresAt   string `json:"expires_at"`
}

// current is the body of GET /sessions/current.
type current struct {
	SessionID         string `json:"session_id"`
	Subject           string `json:"subject"`
	IssuedAt          string `json:"issued_at"`
	ExpiresAt         string `json:"expires_at"`
	APIKeyFingerprint string `json:"api_key_fingerprint"`
}

// errorBody is an error response in either dialect, read into the same fields:
// the RFC 6749 shape {"error", "error_description"}, or on /chat/* the OpenAI shape
// {"error": {"message", "type", "code"}} (Type set only then).
type errorBody struct {
	Error            string
	ErrorDescription string
	Type             string
}

// UnmarshalJSON reads either shape, refusing members neither has.
func (e *errorBody) UnmarshalJSON(b []byte) error {
	var probe struct {
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if len(probe.Error) > 0 && probe.Error[0] == '{' {
		var chat struct {
			Error struct {
				Message string `json:"message"`
				Type    string `json:"type"`
				Code    string `json:"code"`
			} `json:"error"`
		}
		if err := dec.Decode(&chat); err != nil {
			return err
		}
		*e = errorBody{Error: chat.Error.Code, ErrorDescription: chat.Error.Message, Type: chat.Error.Type}
		return nil
	}
	var rfc struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if err := dec.Decode(&rfc); err != nil {
		return err
	}
	*e = errorBody{Error: rfc.Error, ErrorDescription: rfc.ErrorDescription}
	return nil
}

// createSession trades apiKey for a token at POST /sessions (X-API-Key) and checks
// the response shape.
func (s *server) createSession(t *testing.T, apiKey string) session {
	t.Helper()
	resp := s.do(t, request{Method: http.MethodPost, Path: "/sessions", Header: map[string]string{"X-API-Key": apiKey}})
	return checkSession(t, resp, http.StatusCreated)
}

// checkSession checks a session response (POST /sessions: 201; POST
// /sessions/refresh: the same shape, 200) and returns its body.
func checkSession(t *testing.T, resp *response, wantStatus int) session {
	t.Helper()
	if resp.Status != wantStatus {
		t.Fatalf("status = %d, want %d; body %s", resp.Status, wantStatus, resp.Body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	var sess session
	resp.JSON(t, &sess)
	if strings.Count(sess.AccessToken, ".") != 2 {
		t.Fatalf("access_token is not a compact JWS: %q", sess.AccessToken)
	}
	// DPoP for a token bound to a key (claim cnf), Bearer for any other.
	want := "Bearer"
	if _, bound := claimsOf(t, sess.AccessToken)["cnf"]; bound {
		want = "DPoP"
	}
	if sess.TokenType != want {
		t.Errorf("token_type = %q, want %s", sess.TokenType, want)
	}
	if sess.ExpiresIn <= 0 {
		t.Errorf("expires_in = %d, want positive", sess.ExpiresIn)
	}
	if _, err := time.Parse(time.RFC3339, sess.ExpiresAt); err != nil {
		t.Errorf("expires_at %q is not RFC 3339: %v", sess.ExpiresAt, err)
	}
	return sess
}

// currentSession calls GET /sessions/current with tok and expects 200.
func (s *server) currentSession(t *testing.T, tok string) current {
	t.Helper()
	resp := s.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Token: tok})
	if resp.Status != http.StatusOK {
		t.Fatalf("GET /sessions/current = %d, want 200; body %s", resp.Status, resp.Body)
	}
	var c current
	resp.JSON(t, &c)
	return c
}

// checkInvalidToken checks an RFC 6750 invalid_token refusal and returns its
// error_description.
func checkInvalidToken(t *testing.T, resp *response) string {
	t.Helper()
	if resp.Status != http.StatusUnauthorized {
		t.Fatalf("status = %d, want 401; body %s", resp.Status, resp.Body)
	}
	wa := resp.Header.Get("WWW-Authenticate")
	if !strings.HasPrefix(wa, `Bearer realm="jwtgate"`) || !strings.Contains(wa, `error="invalid_token"`) {
		t.Errorf(`WWW-Authenticate = %q, want Bearer realm="jwtgate" with error="invalid_token"`, wa)
	}
	var e errorBody
	resp.JSON(t, &e)
	want := "invalid_token"
	if e.Type != "" && e.ErrorDescription == "token is expired" {
		want = "token_expired" // the OpenAI dialect of /chat/* tells expiry apart
	}
	if e.Error != want || e.ErrorDescription == "" {
		t.Errorf("body = %s, want error %s with a description", resp.Body, want)
	}
	return e.ErrorDescription
}

// tokenPayload returns the decoded payload (claims JSON) of a compact JWS.
func tokenPayload(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("payload is not base64url: %v", err)
	}
	return string(b)
}

// tamper returns tok with its subject changed after signing.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	payload := tokenPayload(t, tok)
	var claims map[string]any
	if err := json.Unmarshal([]byte(payload), &claims); err != nil {
		t.Fatal(err)
	}
	claims["sub"] = "admin"
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}

// newSecret returns a random 64-character HMAC secret.
func newSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 48)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newAPIKey returns a random API key in the shape chat providers use.
func newAPIKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 24)
	rand.Read(b)
	return "sk-e2e-" + base64.RawURLEncoding.EncodeToString(b)
}

// cliResult is the outcome of one run of the binary as a command-line tool.
type cliResult struct {
	Stdout, Stderr string
	ExitCode       int
}

// runCLI runs the binary with args and env (added to the cleaned environment),
// feeding stdin.
func runCLI(t *testing.T, env []string, stdin string, args ...string) cliResult {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), binary, args...)
	cmd.Env = append(cleanEnviron(), env...)
	cmd.Dir = t.TempDir()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running jwtgate %v: %v", args, err)
	}
	return cliResult{Stdout: out.String(), Stderr: errb.String(), ExitCode: cmd.ProcessState.ExitCode()}
}

// assertNoLeak fails if s contains any of secrets (or, for tokens, their signature).
func assertNoLeak(t *testing.T, what, s string, secrets ...string) {
	t.Helper()
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		if strings.Contains(s, secret) {
			t.Errorf("%s contains a secret or token (%d bytes)", what, len(secret))
		}
		if parts := strings.Split(secret, "."); len(parts) == 3 && len(parts[2]) >= 16 && strings.Contains(s, parts[2]) {
			t.Errorf("%s contains a token signature", what)
		}
	}
}

// connectionRefused reports whether nothing accepts connections at addr any more.
func connectionRefused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
