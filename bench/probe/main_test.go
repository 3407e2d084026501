package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			_, _ = w.Write([]byte("# HELP go_memstats_heap_inuse_bytes x\n" +
				"go_memstats_heap_inuse_bytes_total 1\n" +
				"go_memstats_heap_inuse_bytes 4.194304e+06\n"))
		case "/sessions":
			if r.Method != http.MethodPost || r.Header.Get("X-API-Key") != "k" {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"error":"invalid_api_key"}`))
				return
			}
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"access_token":"tok","expires_in":900}`))
		case "/healthz":
			w.WriteHeader(http.StatusOK)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		args    []string
		want    string
		wantErr bool
	}{
		{args: []string{"metric", "-url", srv.URL + "/metrics", "-name", "go_memstats_heap_inuse_bytes"}, want: "4.194304e+06\n"},
		{args: []string{"metric", "-url", srv.URL + "/metrics", "-name", "nope"}, wantErr: true},
		{args: []string{"json", "-url", srv.URL + "/sessions", "-method", "post", "-header", "X-API-Key: k", "-field", "access_token"}, want: "tok\n"},
		{args: []string{"json", "-url", srv.URL + "/sessions", "-method", "post", "-field", "access_token"}, wantErr: true},
		{args: []string{"json", "-url", srv.URL + "/sessions", "-method", "post", "-header", "X-API-Key: k", "-field", "expires_in"}, wantErr: true},
		{args: []string{"wait", "-url", srv.URL + "/healthz"}, want: ""},
		{args: []string{"wait", "-url", srv.URL + "/missing", "-timeout", "200ms"}, wantErr: true},
		{args: []string{"wait", "-url", "http://192.0.2.1/healthz"}, wantErr: true},
		{args: []string{"bogus"}, wantErr: true},
		{args: nil, wantErr: true},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		err := run(tc.args, &out)
		if (err != nil) != tc.wantErr {
			t.Errorf("run(%q) error = %v, want error %v", tc.args, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && out.String() != tc.want {
			t.Errorf("run(%q) printed %q, want %q", tc.args, out.String(), tc.want)
		}
	}

	var out bytes.Buffer
	if err := run([]string{"freeport"}, &out); err != nil {
		t.Fatal(err)
	}
	if p, err := strconv.Atoi(strings.TrimSpace(out.String())); err != nil || p <= 0 || p > 65535 {
		t.Errorf("freeport printed %q", out.String())
	}
}
