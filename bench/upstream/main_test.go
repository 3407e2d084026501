package main

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCompletionAndStream(t *testing.T) {
	srv := httptest.NewServer(newHandler(5, 0, 0))
	t.Cleanup(srv.Close)
	post := func(body string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}

	hreq, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	hres, err := srv.Client().Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	hres.Body.Close()
	if hres.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz = %d, want 200", hres.StatusCode)
	}

	res := post(`{"model":"m","messages":[]}`)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("non-stream: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}

	res = post(`{"stream":true}`)
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream Content-Type = %q", ct)
	}
	var events []string
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "data: ") {
			events = append(events, line)
		}
	}
	if len(events) != 5 || events[4] != "data: [DONE]" {
		t.Fatalf("got events %q, want 5 ending with [DONE]", events)
	}

	if res := post(`{`); res.StatusCode != http.StatusBadRequest {
		t.Errorf("bad JSON: %d, want 400", res.StatusCode)
	}
}
