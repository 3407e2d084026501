package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/server"
)

// TestAbortedRequestRecorded checks that a request whose handler aborts with
// http.ErrAbortHandler (as the reverse proxy does with a broken stream) still
// gets its access line and its count, and that the panic goes on to net/http.
func TestAbortedRequestRecorded(t *testing.T) {
	ts := newTestServer(t)
	logs := &logBuffer{}
	srv, err := server.New(testConfig(), server.Deps{
		Issuer:   ts.issuer,
		Verifier: panicVerifier{ts.verifier, http.ErrAbortHandler},
		Logger:   newJSONLogger(logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/sessions/current", nil)
	req.Header.Set("Authorization", "Bearer x")
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler passed on", v)
			}
		}()
		srv.ServeHTTP(httptest.NewRecorder(), req)
	}()
	var found bool
	for _, rec := range logs.lines(t) {
		if rec["msg"] == "request" && rec["route"] == "/sessions/current" {
			found = true
		}
	}
	if !found {
		t.Errorf("no access line for the aborted request:\n%s", logs)
	}
	if _, ok := value(scrape(t, &testServer{srv: srv}), "jwtgate_http_requests_total", map[string]string{"route": "/sessions/current", "method": "GET"}); !ok {
		t.Error("the aborted request is not counted")
	}
}
