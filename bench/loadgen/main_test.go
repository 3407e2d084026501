package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestLoopbackURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080/healthz", true},
		{"http://127.1.2.3:80/", true},
		{"http://localhost:9/x", true},
		{"https://[::1]:8443/", true},
		{"", false},
		{"http://10.0.0.1/", false},
		{"http://example.com/", false},
		{"http://0.0.0.0:8080/", false},
		{"http://[::]:8080/", false},
		{"ftp://127.0.0.1/", false},
		{"http://user:pw@127.0.0.1/", false},
		{"127.0.0.1:8080", false},
	}
	for _, tc := range tests {
		_, err := loopbackURL(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("loopbackURL(%q) error = %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}

func TestDialLoopbackOnly(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:80", true},
		{"[::1]:80", true},
		{"192.168.1.1:80", false},
		{"[2001:db8::1]:443", false},
		{"localhost:80", false}, // the dialer sees resolved addresses only
		{"garbage", false},
	}
	for _, tc := range tests {
		err := dialLoopbackOnly("tcp", tc.addr, nil)
		if (err == nil) != tc.ok {
			t.Errorf("dialLoopbackOnly(%q) error = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
}

func TestParseFlagsRejects(t *testing.T) {
	tests := [][]string{
		{},
		{"-url", "http://127.0.0.1:1/", "-c", "0"},
		{"-url", "http://127.0.0.1:1/", "-c", "5000"},
		{"-url", "http://127.0.0.1:1/", "-d", "0s"},
		{"-url", "http://127.0.0.1:1/", "-d", "2h"},
		{"-url", "http://127.0.0.1:1/", "-n", "0"},
		{"-url", "http://127.0.0.1:1/", "-header", "no colon"},
		{"-url", "http://127.0.0.1:1/", "-body", "x", "-body-file", "y"},
		{"-url", "http://127.0.0.1:1/", "extra"},
	}
	for _, args := range tests {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q) succeeded, want an error", args)
		}
	}
}

func TestGenerateCountsRequestsAndStatuses(t *testing.T) {
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Test") != "yes" || string(b) != `{"a":1}` {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/chunked":
			// Flushed pieces make net/http send a chunked body.
			for range 3 {
				_, _ = io.WriteString(w, "data: x\n\n")
				_ = http.NewResponseController(w).Flush()
			}
		case "/close":
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "bye")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			_, _ = io.WriteString(w, strings.Repeat("x", 100))
		}
	}))
	t.Cleanup(srv.Close)

	type testCase struct {
		client     string
		path       string
		firstByte  bool
		wantNon2xx bool
	}
	var cases []testCase
	for _, client := range []string{"raw", "std"} {
		cases = append(cases,
			testCase{client, "/ok", false, false},
			testCase{client, "/ok", true, false},
			testCase{client, "/chunked", false, false},
			testCase{client, "/chunked", true, false},
			testCase{client, "/close", false, false},
			testCase{client, "/empty", true, false},
			testCase{client, "/missing", false, true},
		)
	}
	for _, tc := range cases {
		o, err := parseFlags([]string{"-url", srv.URL + tc.path, "-method", "post", "-header", "X-Test: yes",
			"-body", `{"a":1}`, "-c", "2", "-d", "300ms", "-warmup", "0s", "-n", "50", "-client", tc.client,
			"-first-byte=" + map[bool]string{true: "true", false: "false"}[tc.firstByte]})
		if err != nil {
			t.Fatal(err)
		}
		res, err := generate(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests == 0 || res.Requests > 50+2 {
			t.Errorf("%+v: requests = %d, want 1 to 52 (-n 50, 2 workers)", tc, res.Requests)
		}
		if res.Errors != 0 {
			t.Errorf("%+v: errors = %d (%s), want 0", tc, res.Errors, res.FirstError)
		}
		if got := res.Non2xx == res.Requests; got != tc.wantNon2xx {
			t.Errorf("%+v: non2xx = %d of %d, want all non-2xx = %v", tc, res.Non2xx, res.Requests, tc.wantNon2xx)
		}
		if tc.firstByte && (res.TotalP50ms < res.P50ms || !res.FirstByte) {
			t.Errorf("%+v: first-byte p50 %v > total p50 %v, or first_byte unset", tc, res.P50ms, res.TotalP50ms)
		}
		if res.Client != tc.client {
			t.Errorf("%+v: client = %q", tc, res.Client)
		}
		if res.Name != "POST "+tc.path {
			t.Errorf("name = %q, want %q", res.Name, "POST "+tc.path)
		}
	}
	if seen.Load() == 0 {
		t.Fatal("the server saw no request")
	}
}
