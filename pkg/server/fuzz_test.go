package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// FuzzCreateSession posts arbitrary bodies and content types to /sessions, with
// and without the X-API-Key header: never a 5xx, only the documented statuses,
// every refusal in the JSON error shape, and never the API key in the response.
func FuzzCreateSession(f *testing.F) {
	seeds := []struct {
		body, ctype string
		header      bool
	}{
		{"", "", true},
		{"", "", false},
		{`{"api_key":"` + testAPIKey + `"}`, "application/json", false},
		{`{"api_key":"` + testAPIKey + `","subject":"alice","ttl":60}`, "application/json; charset=utf-8", true},
		{`{"ttl":1.5}`, "application/json", true},
		{`{"ttl":1,"ttl":2}`, "application/json", true},
		{`{"subject":"\u0000"}`, "application/json", true},
		{`{} {}`, "application/json", true},
		{`[`, "application/json", true},
		{`{"api_key":"other key"}`, "application/json", true},
		{`{}`, "text/plain", true},
		{`{}`, "application/json; charset=\"", true},
		{strings.Repeat("a", 1100), "application/json", true},
	}
	for _, s := range seeds {
		f.Add(s.body, s.ctype, s.header)
	}
	ts := newTestServer(f)

	f.Fuzz(func(t *testing.T, body, ctype string, header bool) {
		r := request{method: http.MethodPost, path: "/sessions", body: body}
		r.headers = http.Header{"Content-Type": {ctype}}
		if header {
			r.headers.Set("X-API-Key", testAPIKey)
		}
		res := ts.do(t, r)
		switch res.status {
		case http.StatusCreated:
			return
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		default:
			t.Fatalf("status %d for body %q, content type %q", res.status, body, ctype)
		}
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if err := json.Unmarshal([]byte(res.body), &e); err != nil || e.Error == "" || e.Description == "" {
			t.Fatalf("refusal %q is not the error shape (%v)", res.body, err)
		}
		if strings.Contains(res.body, testAPIKey) {
			t.Fatalf("refusal carries the API key")
		}
	})
}
