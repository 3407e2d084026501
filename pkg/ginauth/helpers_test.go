package ginauth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jwtgate/jwtgate/pkg/ginauth"
	"github.com/jwtgate/jwtgate/pkg/token"
)

func TestMain(m *testing.M) {
	// gin prints route tables in its default debug mode; keep test output clean.
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

const (
	testIssuer   = "jwtgate-test"
	testAudience = "jwtgate-test-aud"
	testAPIKey   = "sk-test-0123456789abcdef"
)

// testTokens is a real issuer and verifier over one HMAC key.
type testTokens struct {
	keys     *token.KeySet
	issuer   *token.Issuer
	verifier *token.Verifier
}

func newTestKeySet(t testing.TB, kid string) *token.KeySet {
	t.Helper()
	secret := []byte("0123456789abcdef0123456789abcdef-" + kid)
	key, err := token.NewHMACKey(kid, token.HS256, secret)
	if err != nil {
		t.Fatalf("NewHMACKey: %v", err)
	}
	ks, err := token.NewKeySet("", []*token.Key{key})
	if err != nil {
		t.Fatalf("NewKeySet: %v", err)
	}
	return ks
}

// newTestTokens builds an issuer and verifier; opts go to both.
func newTestTokens(t testing.TB, opts ...token.Option) *testTokens {
	t.Helper()
	ks := newTestKeySet(t, "test-key")
	var (
		iopts []token.IssuerOption
		vopts []token.VerifierOption
	)
	for _, o := range opts {
		iopts, vopts = append(iopts, o), append(vopts, o)
	}
	iss, err := token.NewIssuer(ks, testIssuer, testAudience, iopts...)
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	ver, err := token.NewVerifier(ks, testIssuer, testAudience, vopts...)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return &testTokens{keys: ks, issuer: iss, verifier: ver}
}

func (tt *testTokens) mustIssue(t testing.TB, apiKey string) *token.Issued {
	t.Helper()
	is, err := tt.issuer.Issue(context.Background(), token.Params{APIKey: apiKey, Subject: "alice"})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return is
}

// fakeVerifier returns fixed results and records the raw tokens it was given.
type fakeVerifier struct {
	claims token.Claims
	err    error

	mu  sync.Mutex
	got []string
}

func (f *fakeVerifier) Verify(_ context.Context, raw string) (token.Claims, error) {
	f.mu.Lock()
	f.got = append(f.got, raw)
	f.mu.Unlock()
	return f.claims, f.err
}

func (f *fakeVerifier) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

func fakeClaims() token.Claims {
	now := time.Unix(1_700_000_000, 0)
	return token.Claims{
		KeyID: "k", Issuer: testIssuer, Audience: testAudience, Subject: "alice",
		ID: "jti", SessionID: "sid", IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(time.Hour),
		SessionStart: now, APIKey: testAPIKey, APIKeyFingerprint: token.Fingerprint(testAPIKey),
	}
}

// newTestRouter mounts mw in front of GET /protected, which answers 200 with the
// subject and the fingerprint of the API key it sees.
func newTestRouter(mw gin.HandlerFunc) *gin.Engine {
	r := gin.New()
	r.GET("/protected", mw, func(c *gin.Context) {
		claims, ok := ginauth.Claims(c)
		key, keyOK := ginauth.APIKey(c)
		if !ok || !keyOK {
			c.String(http.StatusTeapot, "handler reached without claims")
			return
		}
		c.JSON(http.StatusOK, gin.H{"subject": claims.Subject, "fingerprint": token.Fingerprint(key)})
	})
	return r
}

// do sends a GET to path with the given Authorization header values.
func do(t testing.TB, h http.Handler, path string, authorization ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for _, a := range authorization {
		req.Header.Add("Authorization", a)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func decodeError(t testing.TB, rec *httptest.ResponseRecorder) errorBody {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body %q is not JSON: %v", rec.Body.String(), err)
	}
	return b
}

type verifierFunc func(ctx context.Context, raw string) (token.Claims, error)

func (f verifierFunc) Verify(ctx context.Context, raw string) (token.Claims, error) {
	return f(ctx, raw)
}
