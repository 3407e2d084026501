package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCompletionAndStream(t *testing.T) {
	srv := httptest.NewServer(newHandler(5, 0, 0))
	t.Cleanup(srv.Close)
	post := func(body string, query ...string) *http.Response {
		t.Helper()
		u := srv.URL + "/v1/chat/completions"
		if len(query) > 0 {
			u += "?" + query[0]
		}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(body))
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

	countEvents := func(res *http.Response) []string {
		t.Helper()
		var events []string
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "data: ") {
				events = append(events, line)
			}
		}
		return events
	}
	if ev := countEvents(post(`{"stream":true}`, "events=12&event_delay=0s")); len(ev) != 12 || ev[11] != "data: [DONE]" {
		t.Errorf("events=12: got %d events %q, want 12 ending with [DONE]", len(ev), ev)
	}
	for _, q := range []string{"events=0", "events=1001", "events=x", "event_delay=2s", "event_delay=-1s"} {
		if res := post(`{"stream":true}`, q); res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, res.StatusCode)
		}
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

func TestStampedEvents(t *testing.T) {
	srv := httptest.NewServer(newHandler(5, 0, 0))
	t.Cleanup(srv.Close)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/chat/completions?stamp=1&events=3",
		strings.NewReader(`{"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	before := time.Now().Add(-time.Minute).UnixNano()
	var seqs []int
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || line == "[DONE]" {
			continue
		}
		var ev struct {
			Seq  int   `json:"seq"`
			Sent int64 `json:"sent_unix_ns"`
			ID   string
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("event %q is not JSON: %v", line, err)
		}
		if ev.Sent < before || ev.ID != "chatcmpl-bench" {
			t.Errorf("event %q: want a recent sent_unix_ns and the chunk's members", line)
		}
		seqs = append(seqs, ev.Seq)
	}
	if fmt.Sprint(seqs) != "[0 1]" {
		t.Errorf("seqs = %v, want [0 1] (the third event is [DONE])", seqs)
	}
}

// TestSelfSigned checks that a client trusting the written certificate reaches
// a TLS server using it over HTTP/2.
func TestSelfSigned(t *testing.T) {
	certFile := filepath.Join(t.TempDir(), "cert.pem")
	cert, err := selfSigned(certFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(newHandler(2, 0, 0))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("the written certificate does not parse")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.ProtoMajor != 2 {
		t.Errorf("GET /healthz over TLS: %d %s, want 200 over HTTP/2", res.StatusCode, res.Proto)
	}
}
