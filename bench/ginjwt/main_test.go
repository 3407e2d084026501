package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestLoginThenProtectedRoute(t *testing.T) {
	h, err := newHandler([]byte(strings.Repeat("s", 32)), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	serve := func(method, path, body string, header map[string]string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(body))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	if rec := serve(http.MethodGet, "/healthz", "", nil); rec.Code != http.StatusOK {
		t.Fatalf("GET /healthz = %d, want 200", rec.Code)
	}
	for _, tc := range []struct {
		name   string
		body   string
		header map[string]string
		want   int
	}{
		{"header key", "", map[string]string{"X-API-Key": "k1"}, http.StatusOK},
		{"body key", `{"api_key":"k1","subject":"ann"}`, map[string]string{"Content-Type": "application/json"}, http.StatusOK},
		{"no key", `{}`, map[string]string{"Content-Type": "application/json"}, http.StatusUnauthorized},
		{"bad json", `{`, map[string]string{"Content-Type": "application/json"}, http.StatusUnauthorized},
	} {
		rec := serve(http.MethodPost, "/login", tc.body, tc.header)
		if rec.Code != tc.want {
			t.Fatalf("%s: POST /login = %d, want %d: %s", tc.name, rec.Code, tc.want, rec.Body)
		}
		if tc.want != http.StatusOK {
			continue
		}
		var out struct{ Token string }
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Token == "" {
			t.Fatalf("%s: login body %s: %v", tc.name, rec.Body, err)
		}
		rec = serve(http.MethodGet, "/sessions/current", "", map[string]string{"Authorization": "Bearer " + out.Token})
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: GET /sessions/current = %d: %s", tc.name, rec.Code, rec.Body)
		}
		if strings.Contains(rec.Body.String(), "k1") || !strings.Contains(rec.Body.String(), fingerprint("k1")) {
			t.Errorf("%s: claims body %s: want the fingerprint and never the key", tc.name, rec.Body)
		}
	}
	for _, auth := range []string{"", "Bearer nope", "Bearer a.b.c"} {
		rec := serve(http.MethodGet, "/sessions/current", "", map[string]string{"Authorization": auth})
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: got %d, want 401", auth, rec.Code)
		}
	}
}

func TestListenLoopbackRefusesOtherHosts(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "10.1.2.3:0", "localhost:0", "nonsense"} {
		if ln, err := listenLoopback(addr); err == nil {
			ln.Close()
			t.Errorf("listenLoopback(%q) succeeded, want an error", addr)
		}
	}
	ln, err := listenLoopback("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}
