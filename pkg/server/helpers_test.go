package server_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtgate/jwtgate/pkg/meter"
	"github.com/jwtgate/jwtgate/pkg/server"
	"github.com/jwtgate/jwtgate/pkg/token"
)

const (
	testIssuer   = "jwtgate-test"
	testAudience = "jwtgate-test-aud"
	testAPIKey   = "sk-test-server-6d1f0c9b8a7e5d4c3b2a"
	otherAPIKey  = "sk-test-other-0a1b2c3d4e5f60718293"
)

// logBuffer is a log sink that handlers and the test may use at once.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the JSON log records written so far.
func (b *logBuffer) lines(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// testClock is a settable clock shared by the test's issuer and verifier.
type testClock struct{ unix atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.unix.Store(time.Now().Unix())
	return c
}

func (c *testClock) now() time.Time          { return time.Unix(c.unix.Load(), 0) }
func (c *testClock) advance(d time.Duration) { c.unix.Add(int64(d / time.Second)) }

// testServer is a Server over a real issuer and verifier, logging to a buffer.
type testServer struct {
	srv      *server.Server
	keys     *token.KeySet
	issuer   *token.Issuer
	verifier *token.Verifier
	registry *prometheus.Registry
	logs     *logBuffer
	clock    *testClock
}

type testOptions struct {
	cfg server.Config
	// issuerOpts and verifierOpts go to the issuer and the verifier, after
	// token.WithClock.
	issuerOpts   []token.IssuerOption
	verifierOpts []token.VerifierOption
	keys         *token.KeySet
	logLevel     slog.Level // default debug: every line is captured
	// meterOpts go to the session counters' meter, after meter.WithClock
	// with the test's clock.
	meterOpts []meter.Option
	logWriter io.Writer // where the log goes instead of ts.logs (benchmarks: io.Discard)
}

func newTestKeySet(t testing.TB) *token.KeySet {
	t.Helper()
	key, err := token.NewHMACKey("test-key", token.HS256, []byte("0123456789abcdef0123456789abcdef-server-test"))
	if err != nil {
		t.Fatalf("NewHMACKey: %v", err)
	}
	ks, err := token.NewKeySet("", []*token.Key{key})
	if err != nil {
		t.Fatalf("NewKeySet: %v", err)
	}
	return ks
}

func testConfig() server.Config {
	return server.Config{
		MaxBodyBytes:  1024,
		JWKSMaxAge:    5 * time.Minute,
		PublicMetrics: true,
		Chat:          server.ChatConfig{EchoDelay: time.Millisecond, MaxBodyBytes: 4096},
	}
}

// newTestServer builds a server; modify adjusts the options first.
func newTestServer(t testing.TB, modify ...func(*testOptions)) *testServer {
	t.Helper()
	// gin's default debug mode prints its route table; tests want quiet output.
	gin.SetMode(gin.TestMode)
	o := testOptions{cfg: testConfig(), logLevel: slog.LevelDebug}
	for _, m := range modify {
		m(&o)
	}
	if o.keys == nil {
		o.keys = newTestKeySet(t)
	}
	clock := newTestClock()
	iss, err := token.NewIssuer(o.keys, testIssuer, testAudience, append([]token.IssuerOption{token.WithClock(clock.now)}, o.issuerOpts...)...)
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	ver, err := token.NewVerifier(o.keys, testIssuer, testAudience, append([]token.VerifierOption{token.WithClock(clock.now)}, o.verifierOpts...)...)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(cmp.Or[io.Writer](o.logWriter, logs), &slog.HandlerOptions{Level: o.logLevel}))
	m, err := meter.New(append([]meter.Option{meter.WithClock(clock.now), meter.WithLogger(logger)}, o.meterOpts...)...)
	if err != nil {
		t.Fatalf("meter.New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	reg := prometheus.NewRegistry()
	srv, err := server.New(o.cfg, server.Deps{
		Issuer:   iss,
		Verifier: ver,
		Logger:   logger,
		Registry: reg,
		Version:  "v0.0.0-test",
		Meter:    m,
	})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	return &testServer{srv: srv, keys: o.keys, issuer: iss, verifier: ver, registry: reg, logs: logs, clock: clock}
}

// request describes one request to the server.
type request struct {
	method  string
	path    string
	body    string
	ctype   string
	headers http.Header
	bearer  string
	remote  string
	chunked bool // send the body without a Content-Length
}

type response struct {
	status int
	header http.Header
	body   string
}

func (ts *testServer) do(t testing.TB, r request) response {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
		if r.chunked {
			body = io.MultiReader(body) // hides the length from NewRequest
		}
	}
	req := httptest.NewRequestWithContext(context.Background(), r.method, r.path, body)
	for k, vs := range r.headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	if r.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	if r.remote != "" {
		req.RemoteAddr = r.remote
	}
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
}

// createSession opens a session with testAPIKey and returns the token.
func (ts *testServer) createSession(t testing.TB, body string) tokenResponse {
	t.Helper()
	r := request{method: http.MethodPost, path: "/sessions", headers: http.Header{"X-API-Key": {testAPIKey}}}
	if body != "" {
		r.body, r.ctype = body, "application/json"
	}
	res := ts.do(t, r)
	if res.status != http.StatusCreated {
		t.Fatalf("POST /sessions: status %d, body %s", res.status, res.body)
	}
	return decodeJSON[tokenResponse](t, res.body)
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	ExpiresAt   string `json:"expires_at"`
}

// errorBody is an error answer in either dialect: the RFC 6749 shape
// {"error", "error_description"}, or on /chat/* the OpenAI shape
// {"error": {"message", "type", "code"}}, read into the same two fields.
type errorBody struct {
	Error       string
	Description string
	Type        string // the OpenAI shape's type; empty in the RFC 6749 shape
}

func decodeErrorBody(t testing.TB, body string) errorBody {
	t.Helper()
	var probe struct {
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &probe); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	if len(probe.Error) > 0 && probe.Error[0] == '{' {
		chat := decodeJSON[struct {
			Error struct {
				Message string `json:"message"`
				Type    string `json:"type"`
				Code    string `json:"code"`
			} `json:"error"`
		}](t, body)
		if chat.Error.Type == "" {
			t.Errorf("error body %q has no type", body)
		}
		return errorBody{Error: chat.Error.Code, Description: chat.Error.Message, Type: chat.Error.Type}
	}
	rfc := decodeJSON[struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}](t, body)
	return errorBody{Error: rfc.Error, Description: rfc.Description}
}

func decodeJSON[T any](t testing.TB, body string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("body %q does not decode into %T: %v", body, v, err)
	}
	return v
}

// wantError checks an error response: status, JSON shape and error code.
func wantError(t testing.TB, res response, status int, code string) errorBody {
	t.Helper()
	if res.status != status {
		t.Fatalf("status = %d, want %d (body %s)", res.status, status, res.body)
	}
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want JSON", ct)
	}
	body := decodeErrorBody(t, res.body)
	if body.Error != code || body.Description == "" {
		t.Errorf("body = %+v, want error %q with a description", body, code)
	}
	return body
}

func newJSONLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
