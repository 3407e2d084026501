package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jwtgate/jwtgate/pkg/token"
)

// allow reports whether one more request from addr passes the limiter at now.
func allow(rl *rateLimiter[netip.Addr], addr string, now time.Time) bool {
	r := rl.limiterFor(clientAddr(addr)).ReserveN(now, 1)
	if r.DelayFrom(now) == 0 {
		return true
	}
	r.CancelAt(now)
	return false
}

// TestRateLimiterMemoryBounded checks that the limiter remembers at most its
// size in clients, forgetting the least recently seen first, and that a
// forgotten client starts again with a full bucket.
func TestRateLimiterMemoryBounded(t *testing.T) {
	const size = 3
	rl, err := newRateLimiter[netip.Addr](1, 1, size)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0) // one request a minute: nothing refills in this test

	if !allow(rl, "192.0.2.1", now) || allow(rl, "192.0.2.1", now) {
		t.Fatal("192.0.2.1: want its burst of one, then a refusal")
	}
	// Two more clients fill the limiter; 192.0.2.1 is the least recently seen.
	for _, a := range []string{"192.0.2.2", "192.0.2.3"} {
		if !allow(rl, a, now) {
			t.Fatalf("%s refused on its first request", a)
		}
	}
	// Seeing 192.0.2.1 again (still refused) makes 192.0.2.2 the oldest.
	if allow(rl, "192.0.2.1", now) {
		t.Fatal("192.0.2.1 allowed while its bucket is empty")
	}
	// A fourth client pushes out 192.0.2.2, not 192.0.2.1.
	if !allow(rl, "192.0.2.4", now) {
		t.Fatal("192.0.2.4 refused on its first request")
	}
	if n := rl.clients.Len(); n != size {
		t.Errorf("limiter holds %d clients, want its size %d", n, size)
	}
	if rl.clients.Contains(netip.MustParseAddr("192.0.2.2")) {
		t.Error("192.0.2.2, the least recently seen, is still remembered")
	}
	if allow(rl, "192.0.2.1", now) {
		t.Error("192.0.2.1 was forgotten although seen more recently than 192.0.2.2")
	}

	// Many more clients than the size: memory stays bounded.
	for i := range 1000 {
		allow(rl, netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}).String(), now)
	}
	if n := rl.clients.Len(); n != size {
		t.Errorf("after 1000 clients the limiter holds %d, want %d", n, size)
	}
	// 192.0.2.1 was pushed out with the others: it starts again with a full bucket.
	if !allow(rl, "192.0.2.1", now) {
		t.Error("a forgotten client is still refused")
	}
}

func TestRateLimiterOff(t *testing.T) {
	for _, perMinute := range []int{0, -1} {
		rl, err := newRateLimiter[netip.Addr](perMinute, 10, rateLimitClients)
		if rl != nil || err != nil {
			t.Errorf("newRateLimiter(%d) = %v, %v; want nil, nil (no limit)", perMinute, rl, err)
		}
	}
}

func TestClientAddr(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"192.0.2.1:5000", "192.0.2.1"},
		{"192.0.2.1", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:5000", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::"},
		{"2001:db8:1:2::7", "2001:db8:1:2::"},
		{"[fe80::1%eth0]:80", "fe80::"},
		{"", "invalid IP"},
		{"not an address", "invalid IP"},
	}
	for _, tt := range tests {
		if got := clientAddr(tt.in).String(); got != tt.want {
			t.Errorf("clientAddr(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestRefreshRateLimited checks that POST /sessions/refresh is limited per
// session: refreshed tokens share their session's budget, another session has its
// own, and a refused refresh mints nothing.
func TestRefreshRateLimited(t *testing.T) {
	gin.SetMode(gin.TestMode)
	key, err := token.NewHMACKey("k", token.HS256, []byte("0123456789abcdef0123456789abcdef-refresh"))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := token.NewKeySet("", []*token.Key{key})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := token.NewIssuer(ks, "iss", "aud")
	if err != nil {
		t.Fatal(err)
	}
	ver, err := token.NewVerifier(ks, "iss", "aud")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{SessionsPerMinute: 0, RefreshesPerMinute: 2}, Deps{Issuer: iss, Verifier: ver})
	if err != nil {
		t.Fatal(err)
	}
	issue := func() string {
		t.Helper()
		is, err := iss.Issue(t.Context(), token.Params{APIKey: "sk-refresh-test-key"})
		if err != nil {
			t.Fatal(err)
		}
		return is.Token
	}
	refresh := func(tok string) (int, string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/sessions/refresh", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		var body struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		return rec.Code, body.AccessToken
	}
	first := issue()
	code, second := refresh(first)
	if code != http.StatusOK {
		t.Fatalf("first refresh = %d, want 200", code)
	}
	// The refreshed token is the same session: it spends the same budget.
	if code, _ := refresh(second); code != http.StatusOK {
		t.Fatalf("refresh with the refreshed token = %d, want 200 (the second of two)", code)
	}
	if code, tok := refresh(first); code != http.StatusTooManyRequests || tok != "" {
		t.Fatalf("refresh with the first token = %d (token %v), want 429 and no token", code, tok != "")
	}
	if code, _ := refresh(issue()); code != http.StatusOK {
		t.Errorf("another session's refresh = %d, want 200", code)
	}
}
